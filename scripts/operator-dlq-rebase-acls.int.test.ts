// The dead-letter and re-anchoring tools as the operators' principal, with only the ACLs `npm run topics -- acls`
// grants it, on a broker that checks them (test/secureKafka.ts): `npm run dlq -- list` shows a dead letter the
// consumers' principal parked, `dlq -- redrive` sends it back to its topic and moves the re-drive cursor past
// it, and `npm run relay:rebase` publishes what Kafka lacks of a restored database as the relay's stream. A
// consumer's principal, and one granted nothing, running the same commands are refused: exit 1, a message
// saying so, nothing published, the cursor and the relay's checkpoint where they were.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REDRIVE_GROUP } from "../consumers/deadLetters/deadLetterQueue.ts";
import { DEAD_LETTER_HEADERS, deadLetterMessage } from "../consumers/runtime/deadLetters.ts";
import { type Admin, createIdempotentProducer, createKafka } from "../kafka/client.ts";
import { spawnScript } from "../test/childProcess.ts";
import { commitToOutbox } from "../test/consumers/committedRecords.ts";
import { patientCreatedRecord, sealPlainPersonalData } from "../test/consumers/records.ts";
import { testDatabase } from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { ownDatabase } from "../test/ownDatabase.ts";
import { relayCheckpoint, restoreFromAServerAhead, writeModelEvents } from "../test/restoredDatabase.ts";
import {
  type AclUser,
  aclUserSecurity,
  aclUserVariables,
  saslBrokers,
  saslSecurity,
  startSecureKafkaWithAcls,
  superUserAdmin,
} from "../test/secureKafka.ts";

const db = testDatabase();
// The cluster's administrator (a super user): what the broker holds is read as it, whoever wrote it.
let admin: Admin;

beforeAll(async () => {
  await startSecureKafkaWithAcls();
  admin = superUserAdmin("test-operator-acls-admin");
  await admin.connect();
}, 240_000);
afterAll(async () => {
  await admin?.disconnect();
  await db.$client.end();
});

/** `script` run to its end as `user`, with `env` on top; the exit code and everything it printed. */
async function runAs(user: AclUser, script: string, args: string[], env: Record<string, string> = {}) {
  const command = spawnScript(script, { args, env: { ...aclUserVariables(user), ...env } });
  const code = await command.exited;
  return { code, output: command.output() };
}

const DLQ_TOPIC = "patient-events.dlq";

/**
 * Parks a committed patient.created event in patient-events.dlq as a consumer that gave up on it does
 * (consumers/runtime/deadLetters.ts), logged in as the consumers' principal, whose grants include WRITE on the
 * dead-letter topics. The event is committed to the outbox first, as every event a relay published is: re-drive
 * reads there which of its aggregate's events came later. Returns its event id.
 */
async function parkDeadLetter(): Promise<string> {
  const record = patientCreatedRecord();
  await sealPlainPersonalData(db, [record]);
  await commitToOutbox(db, [record]);
  const producer = createIdempotentProducer(
    createKafka({
      brokers: saslBrokers,
      clientId: "test-parking-consumer",
      security: aclUserSecurity("consumer"),
    }),
  );
  await producer.connect();
  try {
    const { key, value, headers } = record.message;
    const parked = deadLetterMessage(
      { key: Buffer.from(key), value: Buffer.from(value), headers },
      { topic: "patient-events", partition: 0, offset: "0" },
      {
        consumer: "patient-directory",
        reason: "attempts-exhausted",
        error: "RangeError",
        errorMessage: "template missing",
        attempts: 3,
      },
    );
    await producer.send({ topic: DLQ_TOPIC, acks: -1, messages: [parked] });
  } finally {
    await producer.disconnect();
  }
  return record.eventId;
}

/** The re-drive cursor (the `dlq-redrive` group's committed offsets) and the end of each dead-letter partition. */
async function cursorAndEnds() {
  const [committed] = await admin.fetchOffsets({ groupId: REDRIVE_GROUP, topics: [DLQ_TOPIC] });
  const ends = await admin.fetchTopicOffsets(DLQ_TOPIC);
  return {
    cursor: Object.fromEntries(
      (committed?.partitions ?? []).map(({ partition, offset }) => [partition, offset]),
    ),
    ends: Object.fromEntries(ends.map(({ partition, high }) => [partition, high])),
  };
}

describe("npm run dlq as the operators' principal", () => {
  it("lists a parked dead letter, re-drives it to its topic once, and moves the re-drive cursor past it", async () => {
    const eventId = await parkDeadLetter();
    const events = await tapTopic(saslBrokers, "patient-events", saslSecurity("scram-sha-512"));

    const list = await runAs("operator", "consumers/dlq.ts", ["list", "patient-events"]);
    expect(list.code, list.output).toBe(0);
    expect(list.output).toContain(eventId);

    const redrive = await runAs("operator", "consumers/dlq.ts", ["redrive", "patient-events", "--yes"]);
    expect(redrive.code, redrive.output).toBe(0);
    const landed = (await events.collect({ done: containsAll([eventId]), timeoutMs: 60_000 })).filter(
      (record) => record.eventId === eventId,
    );
    expect(landed).toHaveLength(1);
    expect(landed[0]?.headers[DEAD_LETTER_HEADERS.redrivenFrom]).toMatch(/^patient-events\.dlq\/0\/\d+$/);
    // Committed in the dlq-redrive group by the operators' principal: past every dead letter of the topic.
    const { cursor, ends } = await cursorAndEnds();
    expect(cursor).toEqual(ends);
  });
});

describe.each([
  ["a consumer's principal", "consumer"],
  ["a principal granted nothing", "stranger"],
] as const)("npm run dlq as %s", (_, user) => {
  it("is refused: it says so, exits 1, re-drives nothing and leaves the cursor where it was", async () => {
    const eventId = await parkDeadLetter();
    const before = await cursorAndEnds();
    const events = await tapTopic(saslBrokers, "patient-events", saslSecurity("scram-sha-512"));

    const list = await runAs(user, "consumers/dlq.ts", ["list", "patient-events"]);
    expect(list.code, list.output).toBe(1);
    expect(list.output).toMatch(/dlq list failed: .*not authorized/i);
    expect(list.output).not.toContain(eventId);

    const redrive = await runAs(user, "consumers/dlq.ts", ["redrive", "patient-events", "--yes"]);
    expect(redrive.code, redrive.output).toBe(1);
    expect(redrive.output).toMatch(/dlq redrive failed: .*not authorized/i);

    const landed = (await events.read()).filter(
      ({ message }) => message.headers?.eventId?.toString() === eventId,
    );
    expect(landed).toEqual([]);
    expect((await cursorAndEnds()).cursor).toEqual(before.cursor);
  });
});

describe("npm run relay:rebase", () => {
  // A database of its own: the restore it simulates is a history no other file may meet.
  const restored = ownDatabase("operator_rebase");
  beforeAll(() => restored.setUp());
  afterAll(() => restored.tearDown(), 60_000);

  /** The relay of the restored database, as the relay's principal, until the events are on ai-events. */
  async function publishAsTheRelay(eventIds: string[]): Promise<void> {
    const tap = await tapTopic(saslBrokers, "ai-events", saslSecurity("scram-sha-512"));
    const relay = spawnScript("relay/main.ts", {
      env: { PORT: "0", LOG_LEVEL: "info", DATABASE_URL: restored.url, ...aclUserVariables("relay") },
    });
    try {
      expectExactlyOnce(await tap.collect({ done: containsAll(eventIds), timeoutMs: 90_000 }), eventIds);
    } finally {
      relay.child.kill("SIGTERM");
      await relay.exited;
    }
  }

  it("re-anchors a restored database as the operators' principal; others are refused and change nothing", async () => {
    const published = await writeModelEvents(restored.db, 3);
    await publishAsTheRelay(published);
    const notPublished = await writeModelEvents(restored.db, 2);
    // The dump caught the relay's checkpoint one event before the last one it had published.
    await restoreFromAServerAhead(restored.db, published[1] as string);
    const restoredCheckpoint = await relayCheckpoint(restored.db);
    const events = await tapTopic(saslBrokers, "ai-events", saslSecurity("scram-sha-512"));
    const rebase = (user: AclUser) =>
      runAs(user, "relay/rebase.ts", ["--yes"], { DATABASE_URL: restored.url });

    for (const user of ["consumer", "stranger"] as const) {
      const refused = await rebase(user);
      expect(refused.code, `${user}: ${refused.output}`).toBe(1);
      expect(refused.output, user).toMatch(/not authorized/i);
      // Refused while reading what Kafka holds, before it marks the relay's checkpoint as being rebased.
      expect(await relayCheckpoint(restored.db), user).toEqual(restoredCheckpoint);
    }
    expect(await events.read()).toEqual([]);

    const done = await rebase("operator");
    expect(done.code, done.output).toBe(0);
    // What Kafka lacked, published once under the relay's transactional id; what it held, not again.
    const landed = await events.collect({ done: containsAll(notPublished), timeoutMs: 60_000 });
    expectExactlyOnce(landed, notPublished);
    expect(landed.filter((record) => published.includes(record.eventId))).toEqual([]);
    const newest = await restored.db.$client.query(
      `SELECT tx_id::text AS "txId", position::text AS "position" FROM outbox
        ORDER BY outbox.tx_id DESC, outbox.position DESC LIMIT 1`,
    );
    expect(await relayCheckpoint(restored.db)).toEqual(newest.rows[0]);
  }, 300_000);
});

// Re-driving dead letters: once the handler is fixed, `dlq redrive` sends the parked record back to its
// topic and the effect happens exactly once; the cursor moves past it, so a second re-drive does not repeat it.
// An event named that has no dead letter re-drives nothing and says so, as does a queue with none left. A
// re-drive waits for another of its topic to end. A hostile record's dead letter is listed and re-driven
// without what its headers and key hold stopping or leaking through the command.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeadLetterTopicName } from "../../events/index.ts";
import { createIdempotentProducer, createKafka } from "../../kafka/client.ts";
import { spawnScript } from "../../test/childProcess.ts";
import { commitToOutbox } from "../../test/consumers/committedRecords.ts";
import { effectsOf } from "../../test/consumers/effects.ts";
import { startEffectConsumer, useEffectsDatabase } from "../../test/consumers/inProcess.ts";
import { metricValue } from "../../test/consumers/metrics.ts";
import {
  patientCreatedRecord,
  publish,
  sealPlainPersonalData,
  type TestRecord,
} from "../../test/consumers/records.ts";
import { eventually, kafkaBrokers } from "../../test/fixtures.ts";
import { tapTopic } from "../../test/kafkaTap.ts";
import {
  DeadLettersNotFound,
  DeadLettersSuperseded,
  listDeadLetters,
  NoDeadLettersToRedrive,
  REDRIVE_GROUP,
  RedriveCursorPastEnd,
  redriveDeadLetters,
} from "./deadLetterQueue.ts";

const db = useEffectsDatabase();
const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "redrive-test" });
const admin = kafka.admin();
beforeAll(async () => {
  await admin.connect();
  // The dead letters other files left pending are moved past (a superseded one would refuse every re-drive of the
  // whole topic): this file's re-drives of patient-events.dlq meet its own dead letters only.
  const ends = await admin.fetchTopicOffsets("patient-events.dlq");
  await admin.setOffsets({
    groupId: REDRIVE_GROUP,
    topic: "patient-events.dlq",
    partitions: ends.map(({ partition, high }) => ({ partition, offset: high })),
  });
});
afterAll(() => admin.disconnect());

/** `npm run dlq -- <args>` as a user runs it; resolves once its output closed. */
async function dlqCommand(args: string[]) {
  const script = spawnScript("consumers/dlq.ts", { args });
  const code = await new Promise<number | null>((resolve) => script.child.once("close", resolve));
  return { code, output: script.output() };
}

/**
 * A new patient's record (`record`, else a valid one), published and parked in patient-events.dlq by a consumer
 * whose handler fails on it, or who refuses it as poison; resolves to the record and the consumer's name.
 */
async function parkedRecord(consumer: string, record: TestRecord = patientCreatedRecord()) {
  const started = await startEffectConsumer(db, consumer, {
    fail: (eventId) => (eventId === record.eventId ? new Error("parked for the test") : null),
  });
  try {
    await publish(kafkaBrokers(), [record], db);
    await eventually(
      async () => (await metricValue(started.registry, "consumer_records_dead_lettered_total")) === 1,
    );
  } finally {
    await started.stop();
  }
  return { ...record, parkedBy: started.name };
}

describe("re-driving a dead letter", () => {
  it("after the handler is fixed, has the effect once, and is not re-driven again", async () => {
    let handlerFixed = false;
    const record = patientCreatedRecord();
    const started = await startEffectConsumer(db, "redrive", {
      fail: (eventId) =>
        eventId === record.eventId && !handlerFixed ? new RangeError("template missing") : null,
    });
    try {
      await publish(kafkaBrokers(), [record], db);
      await eventually(async () => {
        const parked = { reason: "attempts-exhausted" };
        return (await metricValue(started.registry, "consumer_records_dead_lettered_total", parked)) === 1;
      });
      const pending = await listDeadLetters(kafka, admin, "patient-events.dlq");
      expect(pending.filter((letter) => letter.eventId === record.eventId)).toMatchObject([
        { consumer: started.name, reason: "attempts-exhausted", error: "RangeError", attempts: 3 },
      ]);
      expect((await effectsOf(db, started.name)).some((effect) => effect.eventId === record.eventId)).toBe(
        false,
      );

      handlerFixed = true;
      // Its progress (the command's) counts the dead letters in the range, then each one it read.
      const reported = { total: -1, read: 0 };
      const { redriven } = await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
        progress: (records) => {
          reported.total = records;
          return {
            advance: (count) => {
              reported.read += count;
            },
          };
        },
      });
      expect(redriven.filter((letter) => letter.eventId === record.eventId)).toHaveLength(1);
      expect(reported).toEqual({ total: redriven.length, read: redriven.length });
      await eventually(async () =>
        (await effectsOf(db, started.name)).some((effect) => effect.eventId === record.eventId),
      );

      // The cursor has moved past it: neither listed as pending nor sent again.
      expect(
        (await listDeadLetters(kafka, admin, "patient-events.dlq")).map((letter) => letter.eventId),
      ).not.toContain(record.eventId);
      // Re-driven again, it is not among what is sent: no dead letter may be left after the cursor, which the
      // re-drive refuses.
      const again = await redriveDeadLetters(kafka, admin, db, "patient-events.dlq").catch(
        (error: unknown) => {
          if (error instanceof NoDeadLettersToRedrive) return { redriven: [] };
          throw error;
        },
      );
      expect(again.redriven.map((letter) => letter.eventId)).not.toContain(record.eventId);
      // Still listed with --all, marked where it came from.
      const all = await listDeadLetters(kafka, admin, "patient-events.dlq", { all: true });
      expect(all.map((letter) => letter.eventId)).toContain(record.eventId);

      await new Promise((resolve) => setTimeout(resolve, 500));
      const effects = (await effectsOf(db, started.name)).filter(
        (effect) => effect.eventId === record.eventId,
      );
      expect(effects).toHaveLength(1);
    } finally {
      await started.stop();
    }
  });

  it("of one event only, leaves the others pending", async () => {
    const record = patientCreatedRecord();
    const bystander = patientCreatedRecord();
    const started = await startEffectConsumer(db, "redrive-one", {
      fail: () => new Error("everything fails"),
    });
    try {
      await publish(kafkaBrokers(), [record, bystander], db);
      await eventually(
        async () => (await metricValue(started.registry, "consumer_records_dead_lettered_total")) >= 2,
      );
    } finally {
      await started.stop();
    }
    const { redriven } = await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
      eventIds: new Set([record.eventId]),
    });
    expect(redriven.map((letter) => letter.eventId)).toEqual([record.eventId]);
    const pending = (await listDeadLetters(kafka, admin, "patient-events.dlq")).map(
      (letter) => letter.eventId,
    );
    expect(pending).toContain(bystander.eventId);
  });

  it("waits for another re-drive of its topic to end: two at once would set the cursor back", async () => {
    const record = await parkedRecord("redrive-waits");
    // Another re-drive of the topic, as its lock says.
    const other = await db.$client.connect();
    let waited = 0;
    let redrive: Promise<unknown> | undefined;
    try {
      const { rows } = await other.query<{ pid: number }>(
        "SELECT pg_backend_pid() AS pid, pg_advisory_lock(hashtext('dlq-redrive:patient-events.dlq'))",
      );
      redrive = redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
        eventIds: new Set([record.eventId]),
        waiting: () => {
          waited += 1;
        },
      });
      redrive.catch(() => {}); // awaited below
      await eventually(async () => {
        const blocked = await db.$client.query(
          "SELECT 1 FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))",
          [rows[0]?.pid],
        );
        return blocked.rows.length > 0;
      });
      expect(waited).toBe(1);
    } finally {
      await other.query("SELECT pg_advisory_unlock(hashtext('dlq-redrive:patient-events.dlq'))");
      other.release();
    }
    const { redriven } = (await redrive) as Awaited<ReturnType<typeof redriveDeadLetters>>;
    expect(redriven.map((letter) => letter.eventId)).toEqual([record.eventId]);
  });

  it("named by an event with no dead letter there, re-drives none of those named, says which and fails", async () => {
    const record = await parkedRecord("redrive-missing");
    const notDeadLettered = randomUUID();
    const topic = await tapTopic(kafkaBrokers(), "patient-events");
    const sentBack = async () =>
      (await topic.read()).filter(
        ({ message }) => JSON.parse(String(message.value)).eventId === record.eventId,
      );

    const refused = redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
      eventIds: new Set([record.eventId, notDeadLettered]),
    });
    await expect(refused).rejects.toBeInstanceOf(DeadLettersNotFound);
    await expect(refused).rejects.toThrow(`holds no dead letter of event ${notDeadLettered}`);
    expect(await sentBack()).toEqual([]);

    const command = await dlqCommand(["redrive", "patient-events", "--event", notDeadLettered, "--yes"]);
    expect(command.code, command.output).toBe(1);
    expect(command.output).toContain(`patient-events.dlq holds no dead letter of event ${notDeadLettered}`);
    expect(command.output).not.toContain("re-drove");

    // An id in upper case names the same event: ids are stored in lower case.
    const upper = await dlqCommand([
      "redrive",
      "patient-events",
      "--event",
      record.eventId.toUpperCase(),
      "--yes",
    ]);
    expect(upper.code, upper.output).toBe(0);
    expect(upper.output).toContain("re-drove 1 dead letter(s) from patient-events.dlq to patient-events");
    // Its progress's summary, on stderr, says what became of what it read, as stdout does.
    expect(upper.output).toMatch(/redrive: read \(1 sent back, 0 left parked\), \d+ dead letters in /);
    expect(await sentBack()).toHaveLength(1);
  });

  it("refuses a re-drive cursor past its partition's end, which would hide every dead letter before it", async () => {
    // A dead-letter topic of the test's own: the queue's cursor is set by hand here, as an operator might.
    const original = `redrive-cursor-${randomUUID()}`;
    const dlqTopic = `${original}.dlq` as DeadLetterTopicName;
    await admin.createTopics({
      topics: [{ topic: original }, { topic: dlqTopic }],
      waitForLeaders: true,
    });
    try {
      const producer = createIdempotentProducer(kafka);
      await producer.connect();
      await producer
        .send({
          topic: dlqTopic,
          acks: -1,
          messages: [1, 2].map(() => ({ key: randomUUID(), value: "{}", partition: 0 })),
        })
        .finally(() => producer.disconnect());
      await admin.setOffsets({
        groupId: REDRIVE_GROUP,
        topic: dlqTopic,
        partitions: [{ partition: 0, offset: "50" }],
      });
      const tap = await tapTopic(kafkaBrokers(), original);

      const pastTheEnd = `the re-drive cursor of ${dlqTopic} partition 0 is at offset 50, past the partition's end (2)`;
      await expect(listDeadLetters(kafka, admin, dlqTopic)).rejects.toThrow(pastTheEnd);
      await expect(redriveDeadLetters(kafka, admin, db, dlqTopic)).rejects.toBeInstanceOf(
        RedriveCursorPastEnd,
      );
      // Every retained one is still there to see, and nothing was sent or moved.
      expect(await listDeadLetters(kafka, admin, dlqTopic, { all: true })).toHaveLength(2);
      expect(await tap.read()).toEqual([]);
      const [cursor] = await admin.fetchOffsets({ groupId: REDRIVE_GROUP, topics: [dlqTopic] });
      expect(cursor?.partitions).toEqual([expect.objectContaining({ partition: 0, offset: "50" })]);
    } finally {
      await admin.deleteTopics({ topics: [original, dlqTopic] });
    }
  });

  it("refuses a re-drive with no dead letter after the cursor, rather than report 0 re-driven", async () => {
    // A dead-letter topic of the test's own, every dead letter of it re-driven already (the cursor at its end).
    const original = `redrive-nothing-${randomUUID()}`;
    const dlqTopic = `${original}.dlq` as DeadLetterTopicName;
    await admin.createTopics({
      topics: [{ topic: original }, { topic: dlqTopic }],
      waitForLeaders: true,
    });
    try {
      const tap = await tapTopic(kafkaBrokers(), original);
      // Empty, then with its only dead letter behind the cursor.
      await expect(redriveDeadLetters(kafka, admin, db, dlqTopic)).rejects.toThrow(
        new NoDeadLettersToRedrive(dlqTopic, 0),
      );
      await expect(redriveDeadLetters(kafka, admin, db, dlqTopic)).rejects.toThrow(
        `${dlqTopic} holds no dead letter (none was parked there, or those parked have expired); nothing re-driven`,
      );
      const producer = createIdempotentProducer(kafka);
      await producer.connect();
      await producer
        .send({ topic: dlqTopic, acks: -1, messages: [{ key: randomUUID(), value: "{}", partition: 0 }] })
        .finally(() => producer.disconnect());
      await admin.setOffsets({
        groupId: REDRIVE_GROUP,
        topic: dlqTopic,
        partitions: [{ partition: 0, offset: "1" }],
      });

      await expect(redriveDeadLetters(kafka, admin, db, dlqTopic)).rejects.toThrow(
        `${dlqTopic} holds no dead letter after the re-drive cursor (the 1 it retains were re-driven already; list --all shows each); nothing re-driven`,
      );
      expect(await tap.read()).toEqual([]);
      const [cursor] = await admin.fetchOffsets({ groupId: REDRIVE_GROUP, topics: [dlqTopic] });
      expect(cursor?.partitions).toEqual([expect.objectContaining({ partition: 0, offset: "1" })]);
    } finally {
      await admin.deleteTopics({ topics: [original, dlqTopic] });
    }
  });
});

describe("a hostile record's dead letter", () => {
  it("is listed by its eventId and eventType headers only where they have an event id's and type's form", async () => {
    // Not JSON, with headers a forger chose: patient data, and control characters that would clear the terminal.
    const personal = "Ada Lovelace 1815-12-10 ada@example.org";
    const forged = patientCreatedRecord();
    forged.message.value = personal;
    forged.message.headers = { eventId: personal, eventType: "patient.created\u001b[2J", correlationId: "x" };
    const { parkedBy } = await parkedRecord("list-forged-headers", forged);

    const listed = (await listDeadLetters(kafka, admin, "patient-events.dlq")).filter(
      (letter) => letter.consumer === parkedBy,
    );
    expect(listed.map(({ eventId, eventType, error }) => [eventId, eventType, error])).toEqual([
      [null, null, "not-json"],
    ]);
    const command = await dlqCommand(["list", "patient-events"]);
    expect(command.code, command.output).toBe(0);
    expect(command.output).toContain(parkedBy);
    expect(command.output).not.toMatch(/Ada|ada@/);
    expect(command.output).not.toContain("\u001b");
  });

  it("is listed with what a producer of dead letters chose shown escaped, never raw control characters", async () => {
    // A dead letter written straight to the topic (a principal that may write it), its headers chosen to act on
    // the operator's terminal: clear it, recolour it, reverse what follows.
    const consumer = `forged-${randomUUID().slice(0, 8)}\u001b]0;owned\u0007`;
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    await producer
      .send({
        topic: "patient-events.dlq",
        acks: -1,
        messages: [
          {
            key: randomUUID(),
            value: "{}",
            headers: {
              "dlq.consumer": consumer,
              "dlq.reason": "poison\u001b[2J",
              "dlq.error": "not-json\u009b31m",
              "dlq.error.message": "the record value is not JSON\u202e\nforged line",
              "dlq.attempts": "0",
            },
          },
        ],
      })
      .finally(() => producer.disconnect());

    const command = await dlqCommand(["list", "patient-events"]);
    expect(command.code, command.output).toBe(0);
    expect(command.output).toContain(String.raw`\u001b]0;owned\u0007`);
    expect(command.output).toContain(String.raw`the record value is not JSON\u202e\u000aforged line`);
    expect(command.output.replaceAll("\n", "")).not.toMatch(/[\p{Cc}\u202e]/u);
  });

  it("keyed by what no aggregate id can be (a NUL) is refused, naming the key, not a fault of the command", async () => {
    // Its event committed, its record keyed otherwise: refused as poison (wrong-key) by the consumer; a re-drive
    // asks the outbox about the aggregate its key names, then refuses a key the relays never publish it under.
    const record = patientCreatedRecord();
    const published = record.message.key;
    record.message.key = `${published}\u0000`;
    await sealPlainPersonalData(db, [record]);
    await commitToOutbox(db, [record], { refusedToo: true });
    await parkedRecord("redrive-nul-key", record);
    const topic = await tapTopic(kafkaBrokers(), "patient-events");

    const refused = await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
      eventIds: new Set([record.eventId]),
    }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DeadLettersSuperseded);
    expect((refused as Error).message).toContain(
      `(event ${record.eventId}, patient.created): its record's key is not ${published}, the one its event is published under`,
    );
    const sentBack = (await topic.read()).filter(
      ({ message }) => JSON.parse(String(message.value)).eventId === record.eventId,
    );
    expect(sentBack).toEqual([]);
  });
});

// A send Kafka refuses stops the replay there, saying how many events went out and the last one; the events
// after it are not sent (a replay never skips one to go on). So does the operator's Ctrl-C, between two sends.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { createIdempotentProducer, createKafka } from "../../kafka/client.ts";
import { historyReadable } from "../../test/auditHistory.ts";
import {
  conditionsUpdate,
  kafkaBrokers,
  patientCreated,
  testDatabase,
  testEventContext,
} from "../../test/fixtures.ts";
import { tapTopic } from "../../test/kafkaTap.ts";
import { createServedTopic } from "../../test/kafkaTopics.ts";
import { planReplay, ReplayInterrupted, ReplayStopped, replayHistory } from "./replayHistory.ts";

const db = testDatabase();
const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "replay-interrupted-test" });
const admin = kafka.admin();
const producer = createIdempotentProducer(kafka);
const target = `replay-interrupted-${randomUUID()}`;
const stoppedTarget = `replay-stopped-${randomUUID()}`;
/** Above a small patient event, below one with 40 long conditions (about 11 KB sealed). */
const TARGET_LIMIT = 6_000;
beforeAll(async () => {
  await Promise.all([admin.connect(), producer.connect()]);
  await createServedTopic(admin, target, 1, { "max.message.bytes": String(TARGET_LIMIT) });
  await createServedTopic(admin, stoppedTarget, 1);
});
afterAll(async () => {
  await admin.deleteTopics({ topics: [target, stoppedTarget] }).catch(() => {});
  await Promise.all([admin.disconnect(), producer.disconnect()]);
  await db.$client.end();
});

describe("a replay that Kafka refuses a send of", () => {
  it("stops at that send, saying how far it got, and sends nothing after it", async () => {
    const patientId = randomUUID();
    const appended = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [
        patientCreated(patientId),
        conditionsUpdate(patientId, 1),
        conditionsUpdate(patientId, 40),
        conditionsUpdate(patientId, 2),
      ]),
    );
    const eventIds = appended.map((event) => event.eventId);
    // A replay to another topic reads below the server's horizon: another file's open transaction would hide them.
    await historyReadable(db, { column: "aggregate_id", value: patientId });
    const tap = await tapTopic(kafkaBrokers(), target);
    const client = await db.$client.connect();
    let failure: unknown;
    try {
      const planning = await planReplay(client, admin, {
        filter: { aggregate: { type: "patient", id: patientId } },
        toTopic: target,
        ratePerSecond: null,
      });
      if (planning.outcome !== "planned") throw new Error(planning.reason);
      await replayHistory(client, producer, admin, planning.plan).catch((error) => {
        failure = error;
      });
    } finally {
      client.release();
    }

    expect(failure).toBeInstanceOf(ReplayInterrupted);
    const interrupted = failure as ReplayInterrupted;
    expect(interrupted.sent.published).toBe(2);
    expect(interrupted.message).toMatch(/2 events were replayed before it, the last at tx \d+, position \d+/);
    expect((await tap.read()).map(({ message }) => JSON.parse(String(message.value)).eventId)).toEqual(
      eventIds.slice(0, 2),
    );
  });
});

describe("a replay the operator stops (Ctrl-C: scripts/replay.ts aborts its signal)", () => {
  it("stops before its next send, saying how many of the planned events went out and the last one", async () => {
    const patientId = randomUUID();
    const appended = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [
        patientCreated(patientId),
        conditionsUpdate(patientId, 1),
        conditionsUpdate(patientId, 2),
        conditionsUpdate(patientId, 3),
      ]),
    );
    await historyReadable(db, { column: "aggregate_id", value: patientId });
    const tap = await tapTopic(kafkaBrokers(), stoppedTarget);
    const client = await db.$client.connect();
    const stop = new AbortController();
    let sends = 0;
    let failure: unknown;
    try {
      const planning = await planReplay(client, admin, {
        filter: { aggregate: { type: "patient", id: patientId } },
        toTopic: stoppedTarget,
        ratePerSecond: null,
      });
      if (planning.outcome !== "planned") throw new Error(planning.reason);
      await replayHistory(client, producer, admin, planning.plan, {
        // One event a send, and the operator's Ctrl-C after the second.
        pacer: { sendSize: 1, beforeSend: async () => {} },
        onSent: () => {
          if (++sends === 2) stop.abort();
        },
        signal: stop.signal,
      }).catch((error) => {
        failure = error;
      });
    } finally {
      client.release();
    }

    expect(failure).toBeInstanceOf(ReplayStopped);
    expect((failure as ReplayStopped).message).toMatch(
      /^stopped by the operator: 2 of the 4 events planned were replayed, the last at tx \d+, position \d+; the audit.history.replayed event recorded the plan of 4$/,
    );
    expect((await tap.read()).map(({ message }) => JSON.parse(String(message.value)).eventId)).toEqual(
      appended.slice(0, 2).map((event) => event.eventId),
    );
  });
});

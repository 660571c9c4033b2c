// A replay by each filter kind (aggregate, event type, correlation id, position range, time range, and filters
// combined), to the events' own topic and to a topic of its own, sends exactly the selected events, in the
// relay's order, each record byte for byte the one the relay published: key, value bytes and headers. An
// erased patient's events go out as they were, their personal fields still sealed under the destroyed key.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { loadRelayCheckpoint } from "../../db/outbox/relayCheckpoint.ts";
import type { ReplayFilter } from "../../db/outbox/replayRows.ts";
import { destroyDataKey, PatientErased } from "../../db/patientKeys.ts";
import type { NewEvent } from "../../events/index.ts";
import { createIdempotentProducer, createKafka } from "../../kafka/client.ts";

import {
  decrypted,
  eventually,
  kafkaBrokers,
  patientCreated,
  startRelay,
  testDatabase,
  testEventContext,
} from "../../test/fixtures.ts";
import { type TopicTap, tapTopic } from "../../test/kafkaTap.ts";
import { createServedTopic } from "../../test/kafkaTopics.ts";
import { planReplay, replayHistory } from "./replayHistory.ts";

const db = testDatabase();
const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "replay-test" });
const admin = kafka.admin();
const producer = createIdempotentProducer(kafka);
const ownTopic = `replay-test-${randomUUID()}`;

interface Written {
  eventId: string;
  txId: string;
  position: string;
  createdAt: Date;
}
interface Original {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
const correlation = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
const written: Written[] = [];
const originals = new Map<string, Original>();

const phoneChange = (patientId: string, phone: string): NewEvent => ({
  type: "patient.updated",
  data: { patientId, changedFields: ["phone"], changes: { phone } },
});

beforeAll(async () => {
  await admin.connect();
  await producer.connect();
  await createServedTopic(admin, ownTopic, 3);
  const tap = await tapTopic(kafkaBrokers(), "patient-events");
  const relay = startRelay();
  try {
    const transactions: NewEvent[][] = [
      [patientCreated(a), phoneChange(a, "+14155550101")],
      [patientCreated(b)],
      [patientCreated(c)],
      [phoneChange(a, "+14155550102"), phoneChange(b, "+14155550103")],
    ];
    for (const [index, events] of transactions.entries()) {
      const context = testEventContext({
        metadata: { ...testEventContext().metadata, correlationId: correlation[index] as string },
      });
      const appended = await writeTransaction(db, (tx) => appendEvents(tx, context, events));
      const rows = await db.$client.query<Written>(
        `SELECT event_id::text AS "eventId", tx_id::text AS "txId", position::text AS "position",
                created_at AS "createdAt"
           FROM outbox WHERE event_id = ANY($1::uuid[]) ORDER BY outbox.tx_id, outbox.position`,
        [appended.map((event) => event.eventId)],
      );
      written.push(...rows.rows);
      // Distinct creation times, so that a time range can fall between two transactions.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const last = written.at(-1) as Written;
    await eventually(async () => {
      const checkpoint = await loadRelayCheckpoint(db.$client as never, "outbox");
      return BigInt(checkpoint.txId) >= BigInt(last.txId);
    });
  } finally {
    await relay.stop();
  }
  for (const record of await readAll(tap)) {
    if (written.some((row) => row.eventId === record.eventId)) originals.set(record.eventId, record);
  }
  expect(originals.size, "the relay published every written event").toBe(written.length);
  // Erasure destroys the patient's key and leaves the history (the outbox refuses rewrites) as it was.
  await writeTransaction(db, (tx) => destroyDataKey(tx, c, new Date()));
});

afterAll(async () => {
  await admin.deleteTopics({ topics: [ownTopic] }).catch(() => {});
  await producer.disconnect();
  await admin.disconnect();
  await db.$client.end();
});

async function readAll(tap: TopicTap): Promise<Array<Original & { eventId: string }>> {
  return (await tap.read()).map(({ message }) => ({
    eventId: (JSON.parse(message.value?.toString() ?? "{}") as { eventId: string }).eventId,
    key: message.key?.toString() ?? "",
    value: message.value as Buffer,
    headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, v]) => [name, String(v)])),
  }));
}

const id = (index: number) => (written[index] as Written).eventId;
// written, in the relay's order: 0 a created, 1 a updated, 2 b created, 3 c created, 4 a updated, 5 b updated.
const cases: Array<{ name: string; filter: () => ReplayFilter; toTopic: string | null; expected: number[] }> =
  [
    {
      name: "an aggregate, to its own topic",
      filter: () => ({ aggregate: { type: "patient", id: a } }),
      toTopic: null,
      expected: [0, 1, 4],
    },
    {
      name: "an event type since the first write, to its own topic",
      filter: () => ({ eventType: "patient.updated", since: (written[0] as Written).createdAt }),
      toTopic: null,
      expected: [1, 4, 5],
    },
    {
      name: "a correlation id, to another topic",
      filter: () => ({ correlationId: correlation[0] as string }),
      toTopic: ownTopic,
      expected: [0, 1],
    },
    {
      name: "a position range, to another topic",
      filter: () => ({
        fromPosition: (written[2] as Written).position,
        toPosition: (written[3] as Written).position,
      }),
      toTopic: ownTopic,
      expected: [2, 3],
    },
    {
      name: "a time range, to its own topic",
      filter: () => ({ since: (written[2] as Written).createdAt, until: (written[3] as Written).createdAt }),
      toTopic: null,
      expected: [2],
    },
    {
      name: "an event type, a topic and a position range combined, to another topic",
      filter: () => ({
        eventType: "patient.created",
        topic: "patient-events",
        fromPosition: (written[0] as Written).position,
      }),
      toTopic: ownTopic,
      expected: [0, 2, 3],
    },
  ];

describe("a replay", () => {
  it.each(cases)(
    "by $name sends exactly the selected records, in order, byte for byte as the relay did",
    async ({ filter, toTopic, expected }) => {
      const target = toTopic ?? "patient-events";
      const tap = await tapTopic(kafkaBrokers(), target);
      const client = await db.$client.connect();
      const sent: string[] = [];
      try {
        const planning = await planReplay(client, admin, { filter: filter(), toTopic, ratePerSecond: null });
        if (planning.outcome !== "planned") throw new Error(planning.reason);
        expect(planning.plan.events).toBe(expected.length);
        const outcome = await replayHistory(client, producer, admin, planning.plan, {
          pageSize: 2,
          onSent: (rows) => sent.push(...rows.map((row) => row.eventId)),
        });
        expect(outcome.published).toBe(expected.length);
      } finally {
        client.release();
      }
      expect(sent).toEqual(expected.map(id));

      const mine = new Set(written.map((row) => row.eventId));
      const replayed = (await readAll(tap)).filter((record) => mine.has(record.eventId));
      expect(replayed.map((record) => record.eventId).sort()).toEqual(expected.map(id).sort());
      for (const record of replayed) {
        const original = originals.get(record.eventId) as Original;
        expect(record.key).toBe(original.key);
        expect(record.value.equals(original.value), `value bytes of ${record.eventId}`).toBe(true);
        expect(record.headers).toEqual(original.headers);
      }
    },
  );

  it("sends an erased patient's events still sealed: nobody can open them any more", async () => {
    const tap = await tapTopic(kafkaBrokers(), ownTopic);
    const client = await db.$client.connect();
    try {
      const planning = await planReplay(client, admin, {
        filter: { aggregate: { type: "patient", id: c } },
        toTopic: ownTopic,
        ratePerSecond: null,
      });
      if (planning.outcome !== "planned") throw new Error(planning.reason);
      await replayHistory(client, producer, admin, planning.plan);
    } finally {
      client.release();
    }
    const [record] = (await readAll(tap)).filter((one) => one.eventId === id(3));
    expect(record?.value.equals((originals.get(id(3)) as Original).value)).toBe(true);
    const data = (JSON.parse(record?.value.toString() ?? "{}") as { data: { lastName: string } }).data;
    expect(data.lastName).toMatch(/^enc:v1:/);
    await expect(decrypted(db, record?.value.toString())).rejects.toBeInstanceOf(PatientErased);
  });
});

// A consumer cannot tell the two relays apart. The same outbox rows are relayed twice: by the polling relay,
// then by Debezium from a slot created before they were written. Each event's two records must agree on topic,
// partition, key, value bytes and headers.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { recordAllInInbox, valueDigest } from "../consumers/runtime/inbox.ts";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { exampleEvent } from "../events/examples.ts";
import { eventTypes, type NewEvent } from "../events/index.ts";
import { deliveredAtLeast, type RawRecord, recordsFromNow, useConnectWorker } from "../test/debeziumRelay.ts";
import {
  databaseUrl,
  kafkaBrokers,
  startRelay,
  testDatabase,
  testEventContext,
  traced,
} from "../test/fixtures.ts";
import { registerConnector, removeConnector } from "./connector.ts";
import { debeziumTarget } from "./connectorConfig.ts";
import { preparePostgres } from "./sql/preparePostgres.ts";
import { createSlotExportingSnapshot, dropSlot } from "./sql/replicationSlot.ts";

const WRITERS = 4;
const ROUNDS_PER_WRITER = 3;
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACESTATE = "vendor=opaque-1,other=2";
/** No trace context, a traceparent alone, and both headers: every header shape both relays must agree on. */
const TRACE_SHAPES = [{}, { traceparent: TRACEPARENT }, { traceparent: TRACEPARENT, tracestate: TRACESTATE }];

const db = testDatabase();
const worker = useConnectWorker();
afterAll(() => db.$client.end());

/**
 * The catalog's example of `type`, moved to aggregates of its own: every id in it is swapped for one drawn
 * for this round, consistently (a patient id stays the same patient across the round's events).
 */
function exampleForRound(type: (typeof eventTypes)[number], ids: Map<string, string>): NewEvent {
  const swap = (value: unknown): unknown => {
    if (typeof value === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(value)) {
      if (!ids.has(value)) ids.set(value, randomUUID());
      return ids.get(value);
    }
    if (Array.isArray(value)) return value.map(swap);
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, swap(inner)]));
    }
    return value;
  };
  const example = exampleEvent(type);
  const data = swap(example.data) as Record<string, unknown>;
  // Text beyond ASCII, which JSON.stringify leaves unescaped: the bytes must survive both paths as UTF-8.
  if (type === "patient.created") data.firstName = "Zoë Ōkubo-李";
  if (type === "appointment.booked") data.notes = "Follow-up 🩺 — bring the inhaler";
  return { type, data } as NewEvent;
}

/** Every event type, in rounds of fresh aggregates, from concurrent writers; transactions of one to three events. */
async function writeWorkload(): Promise<string[]> {
  const written: string[] = [];
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      for (let round = 0; round < ROUNDS_PER_WRITER; round++) {
        const ids = new Map<string, string>();
        const events = eventTypes.map((type) => exampleForRound(type, ids));
        for (let start = 0, size = 1; start < events.length; start += size, size = (size % 3) + 1) {
          const trace = TRACE_SHAPES[(writer + round + start) % TRACE_SHAPES.length] ?? {};
          const appended = await traced(trace, () =>
            writeTransaction(db, (tx) =>
              appendEvents(tx, testEventContext(), events.slice(start, start + size)),
            ),
          );
          written.push(...appended.map((event) => event.eventId));
        }
      }
    }),
  );
  return written;
}

function byEventId(records: RawRecord[], eventIds: Set<string>): Map<string, RawRecord> {
  const found = new Map<string, RawRecord>();
  for (const record of records) {
    if (record.eventId && eventIds.has(record.eventId) && !found.has(record.eventId)) {
      found.set(record.eventId, record);
    }
  }
  return found;
}

describe("the Debezium relay and the polling relay", () => {
  it("emit identical records: topic, partition, key, value bytes and headers, for every event type", async () => {
    const { connect } = worker();
    const target = debeziumTarget(databaseUrl());
    const admin = new pg.Client({ connectionString: databaseUrl() });
    await admin.connect();
    try {
      await preparePostgres(admin, target);
      await removeConnector(connect, target.connectorName);
      await dropSlot(admin, target.slotName);
      // The slot holds the workload for Debezium while the polling relay publishes it first.
      const slot = await createSlotExportingSnapshot(databaseUrl(), target.slotName);
      await slot.release();

      const fromPolling = await recordsFromNow();
      const eventIds = await writeWorkload();
      expect(eventIds).toHaveLength(WRITERS * ROUNDS_PER_WRITER * eventTypes.length);
      const relay = startRelay();
      const polled = await fromPolling.readUntil(deliveredAtLeast(eventIds), { settleMs: 200 });
      await relay.stop();

      const fromDebezium = await recordsFromNow();
      await registerConnector(connect, target, kafkaBrokers());
      const streamed = await fromDebezium.readUntil(deliveredAtLeast(eventIds), { settleMs: 200 });
      await removeConnector(connect, target.connectorName);
      await dropSlot(admin, target.slotName);

      const ids = new Set(eventIds);
      const polling = byEventId(polled, ids);
      const debezium = byEventId(streamed, ids);
      expect({ polling: polling.size, debezium: debezium.size }).toEqual({
        polling: ids.size,
        debezium: ids.size,
      });

      const payloads = await admin.query<{ eventId: string; payload: string }>(
        `SELECT event_id::text AS "eventId", payload::text AS payload FROM outbox WHERE event_id = ANY($1::uuid[])`,
        [eventIds],
      );
      const differences: string[] = [];
      for (const { eventId, payload } of payloads.rows) {
        const p = polling.get(eventId) as RawRecord;
        const d = debezium.get(eventId) as RawRecord;
        const fields = {
          topic: [p.topic, d.topic],
          partition: [p.partition, d.partition],
          key: [p.key, d.key],
          value: [p.value?.toString("base64"), d.value?.toString("base64")],
          // In wire order: kafkajs keeps the headers' order in the object it decodes them into.
          headers: [JSON.stringify(p.headers), JSON.stringify(d.headers)],
        };
        for (const [field, [fromP, fromD]] of Object.entries(fields)) {
          if (fromP !== fromD) differences.push(`${eventId} ${field}: polling ${fromP} / debezium ${fromD}`);
        }
        // And both are the writer's bytes, as the outbox holds them.
        if (!p.value?.equals(Buffer.from(payload)))
          differences.push(`${eventId} value differs from the outbox`);
      }
      expect(differences.slice(0, 10), `${differences.length} differences`).toEqual([]);
      // So a consumer, which applies only a record whose value is its event's outbox payload, takes each record
      // Debezium streamed as the committed event (consumers/runtime/inbox.ts), read in each partition's order.
      const inLogOrder = [...debezium.values()].sort(
        (a, b) =>
          a.topic.localeCompare(b.topic) || a.partition - b.partition || (a.offset < b.offset ? -1 : 1),
      );
      const verdicts = await recordAllInInbox(
        db,
        `debezium-conformance-${randomUUID().slice(0, 8)}`,
        inLogOrder.map((record) => ({
          event: {
            eventId: record.headers.eventId as string,
            eventType: record.headers.eventType as string,
            valueSha256: valueDigest(record.value),
          },
          origin: { topic: record.topic, partition: record.partition, offset: String(record.offset) },
        })),
      );
      expect(verdicts.filter((verdict) => verdict.kind !== "new")).toEqual([]);
      expect(verdicts).toHaveLength(ids.size);
      // Every header shape was exercised: none, traceparent alone, traceparent and tracestate.
      const shapes = (records: Map<string, RawRecord>) =>
        new Set(
          [...records.values()].map(({ headers }) =>
            JSON.stringify({ traceparent: headers.traceparent, tracestate: headers.tracestate }),
          ),
        );
      const expected = new Set(TRACE_SHAPES.map((shape) => JSON.stringify(shape)));
      expect(shapes(debezium)).toEqual(expected);
      expect(shapes(polling)).toEqual(expected);
    } finally {
      await admin.end();
    }
  });
});

// Every KAFKA_COMPRESSION the relay may be given: the broker accepts its record batches (it decompresses them
// to validate) and a consumer reads back the outbox's exact bytes, so consumers decode whatever is configured.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { insertPatient } from "../apps/patient/store.ts";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { COMPRESSIONS } from "../kafka/client.ts";
import {
  kafkaBrokers,
  patientCreated,
  startRelay,
  testDatabase,
  testEventContext,
} from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

describe("the relay's record compression", () => {
  it.each(COMPRESSIONS)("with %s, delivers the outbox's bytes unchanged", async (compression) => {
    const relay = startRelay({ compression });
    try {
      const tap = await tapTopic(kafkaBrokers(), "patient-events");
      const eventIds: string[] = [];
      await writeTransaction(db, async (tx) => {
        for (let i = 0; i < 20; i++) {
          const patientId = randomUUID();
          const created = patientCreated(patientId);
          await insertPatient(tx, { id: patientId, ...created.data });
          const [event] = await appendEvents(tx, testEventContext(), [created]);
          eventIds.push(event?.eventId as string);
        }
      });
      const records = await tap.collect({ done: containsAll(eventIds), timeoutMs: 60_000 });
      expectExactlyOnce(records, eventIds);
      const stored = await db.$client.query<{ event_id: string; payload: string }>(
        "SELECT event_id::text, payload::text FROM outbox WHERE event_id = ANY($1::uuid[])",
        [eventIds],
      );
      const payloads = new Map(stored.rows.map((row) => [row.event_id, row.payload]));
      const ours = records.filter((record) => payloads.has(record.eventId));
      expect(ours).toHaveLength(eventIds.length);
      for (const record of ours) expect(record.value).toBe(payloads.get(record.eventId));
    } finally {
      await relay.stop();
    }
  });
});

import { afterAll, describe, expect, it } from "vitest";
import { COMPRESSIONS } from "../kafka/client.ts";
import { createPatients, kafkaBrokers, startRelay, testDatabase } from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

describe("the relay's record compression", () => {
  it.each(COMPRESSIONS)("with %s, delivers the outbox's bytes unchanged", async (compression) => {
    const relay = startRelay({ compression });
    try {
      const tap = await tapTopic(kafkaBrokers(), "patient-events");
      const eventIds = await createPatients(db, 20);
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

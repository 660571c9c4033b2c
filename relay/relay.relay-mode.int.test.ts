// While relay:switch has handed the outbox to Debezium, a polling relay that gets the lock lets it go and
// stands by, publishing nothing; when the stream is handed back it resumes from its cursor.
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { writeRelayMode } from "../db/outbox/relayMode.ts";
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

describe("a polling relay while Debezium relays the outbox", () => {
  it("stands by without publishing, and takes over once the mode is polling again", async () => {
    const client = await db.$client.connect();
    await writeRelayMode(client, "debezium", { state: "done", by: "relay-mode test" });
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const relay = startRelay();
    try {
      const events = await writeTransaction(db, (tx) =>
        appendEvents(tx, testEventContext(), [patientCreated()]),
      );
      const ids = events.map((event) => event.eventId);
      const whileDebezium = await tap.collect({ done: () => false, timeoutMs: 2_000, settleMs: 0 });
      expect(relay.leader).toBe(false);
      expect(whileDebezium.filter((record) => ids.includes(record.eventId))).toEqual([]);

      await writeRelayMode(client, "polling", { state: "done", by: "relay-mode test" });
      const records = await tap.collect({ done: containsAll(ids) });
      expect(relay.leader).toBe(true);
      expectExactlyOnce(records, ids);
    } finally {
      await writeRelayMode(client, "polling", { state: "done", by: "relay-mode test" });
      client.release();
      await relay.stop();
    }
  });
});

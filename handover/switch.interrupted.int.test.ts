// A polling → Debezium handover that fails half way through its backlog, run again, sends nothing twice: it moves
// the polling cursor past each Kafka transaction it commits (a thousand events), where the re-run starts. It sent
// the whole backlog again, once per failed attempt. Here the second transaction fails: an event of it is larger
// than an operator set its topic's max.message.bytes to.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { topicDefinition } from "../events/catalog.ts";
import { exampleEvent } from "../events/examples.ts";
import { createKafka } from "../kafka/client.ts";
import { useConnectWorker } from "../test/debeziumRelay.ts";
import { databaseUrl, kafkaBrokers, testDatabase, testEventContext } from "../test/fixtures.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { setTopicMessageLimit } from "../test/kafkaTopics.ts";
import { publishEverythingCommitted } from "../test/relayCheckpoint.ts";
import { switchToDebezium, switchToPolling } from "./switch.ts";

const db = testDatabase();
const worker = useConnectWorker();
const aiEvents = topicDefinition("ai-events");
const admin = createKafka({ brokers: kafkaBrokers(), clientId: "test-switch-interrupted" }).admin();
afterAll(async () => {
  await applyTopics(admin, { topics: [aiEvents], log: { info: () => {}, warn: () => {} } });
  await admin.disconnect();
  await db.$client.end();
});

describe("relay:switch -- debezium, failed half way and run again", () => {
  it("sends none of what the failed attempt published again", async () => {
    const switchOptions = {
      databaseUrl: databaseUrl(),
      kafkaBrokers: kafkaBrokers(),
      connect: worker().connect,
      log: () => {},
    };
    await admin.connect();
    // The polling relay has published what earlier files left, and stopped: what follows is the switch's. (An
    // earlier file's event of ai-events in the first transaction would fail it, rather than the second.)
    await publishEverythingCommitted(db);
    const patientId = randomUUID();
    const decisions = Array.from({ length: 1000 }, (_, n) =>
      exampleEvent("patient.consent.changed", { patientId, granted: n % 2 === 0 }),
    );
    const first = (await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), decisions))).map(
      (event) => event.eventId,
    );
    const [trained] = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [exampleEvent("ai.model.trained")]),
    );
    await setTopicMessageLimit(admin, aiEvents, 256);
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const aiTap = await tapTopic(kafkaBrokers(), "ai-events");

    await expect(switchToDebezium(switchOptions)).rejects.toThrow();
    await tap.collect({ done: containsAll(first), timeoutMs: 60_000 });
    await applyTopics(admin, { topics: [aiEvents], log: { info: () => {}, warn: () => {} } });
    const toDebezium = await switchToDebezium(switchOptions);
    try {
      // What the failed attempt left: the event it could not send, not the thousand it had.
      expect(toDebezium.published).toBe(1);
      await aiTap.collect({ done: containsAll([trained?.eventId as string]), timeoutMs: 60_000 });
      const records = await tap.collect({ done: () => false, settleMs: 0, timeoutMs: 3_000 });
      expect(records.filter((record) => first.includes(record.eventId))).toHaveLength(first.length);
    } finally {
      await switchToPolling(switchOptions);
    }
  });
});

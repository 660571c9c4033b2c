// relay:switch -- debezium while a topic is missing from Kafka (deleted, or never created) is refused before it
// changes anything: begun, it stopped half way with the relay mode left "handing-over", so that no relay
// published, on a line ("This server does not host this topic-partition") that named neither topic nor fix.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { readRelayMode } from "../db/outbox/relayMode.ts";
import { debeziumTarget } from "../debezium/connectorConfig.ts";
import { slotState } from "../debezium/sql/replicationSlot.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { topicDefinition } from "../events/catalog.ts";
import { exampleEvent } from "../events/examples.ts";
import { createKafka } from "../kafka/client.ts";
import { useConnectWorker } from "../test/debeziumRelay.ts";
import {
  databaseUrl,
  eventually,
  kafkaBrokers,
  startRelay,
  testDatabase,
  testEventContext,
} from "../test/fixtures.ts";
import { switchToDebezium, switchToPolling } from "./switch.ts";

// The quietest catalog topic: other work on the broker is least likely to write to it meanwhile.
const topic = topicDefinition("ai-events");
const db = testDatabase();
const worker = useConnectWorker();
const admin = createKafka({ brokers: kafkaBrokers(), clientId: "test-switch-missing-topic" }).admin();

beforeAll(() => admin.connect());
afterAll(async () => {
  // Whatever happened: the topic back, and the polling relay the relay again.
  await eventually(async () => {
    try {
      await applyTopics(admin, { topics: [topic], log: { info: () => {}, warn: () => {} } });
      return true;
    } catch {
      return false;
    }
  }, 60_000);
  await switchToPolling({ databaseUrl: databaseUrl(), connect: worker().connect, log: () => {} });
  await admin.disconnect();
  await db.$client.end();
});

describe("relay:switch -- debezium with a topic missing", () => {
  it("is refused naming the topic, and changes nothing", async () => {
    // The polling relay has caught up and stopped: the event below is the switch's to publish.
    const relay = startRelay();
    await relay.stop();
    await admin.deleteTopics({ topics: [topic.name] });
    await eventually(async () => !(await admin.listTopics()).includes(topic.name));
    await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [exampleEvent("ai.model.trained")]),
    );

    const switching = switchToDebezium({
      databaseUrl: databaseUrl(),
      kafkaBrokers: kafkaBrokers(),
      connect: worker().connect,
      log: () => {},
      fenceTimeoutMs: 30_000,
    });
    await expect(switching).rejects.toThrow(`Kafka has no topic ${topic.name}: create it (npm run topics)`);

    expect((await readRelayMode(db.$client)).mode).toBe("polling");
    const target = debeziumTarget(databaseUrl());
    expect(await slotState(db.$client, target.slotName)).toBeUndefined();
    expect(await worker().connect.status(target.connectorName)).toBeUndefined();
  });
});

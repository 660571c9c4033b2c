// A topic that does not exist (never created, or deleted while the relay runs) is a send Kafka refuses for good,
// though kafkajs retries it for ever: the relay reports itself stalled, naming the topic and the event ids, never
// skips the events, and resumes with nothing lost once the topic is created again.
import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { topicDefinition } from "../events/catalog.ts";
import { exampleEvent } from "../events/examples.ts";
import { createKafka } from "../kafka/client.ts";
import { healthRoutes } from "../observability/health.ts";
import { capturedLog } from "../test/capturedLog.ts";
import { eventually, kafkaBrokers, startRelay, testDatabase, testEventContext } from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import type { TappedRecord } from "../test/kafkaTap.ts";
import { relayCheckpointBefore } from "../test/relayCheckpoint.ts";

// The quietest catalog topic: other work on the broker is least likely to write to it meanwhile.
const topic = topicDefinition("ai-events");
const db = testDatabase();
const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "test-missing-topic" });
const admin = kafka.admin();
const quiet = { info: () => {}, warn: () => {} };

beforeAll(() => admin.connect());
afterAll(async () => {
  // The catalog's topic again, whatever happened in the test.
  await recreateTopic();
  await admin.disconnect();
  await db.$client.end();
});

async function deleteTopic(): Promise<void> {
  await admin.deleteTopics({ topics: [topic.name] });
  await eventually(async () => !(await admin.listTopics()).includes(topic.name));
}

/** Creation is refused while the deleted topic is still being removed: asked again until it is done. */
async function recreateTopic(): Promise<void> {
  await eventually(async () => {
    try {
      await applyTopics(admin, { topics: [topic], log: quiet });
      return true;
    } catch {
      return false;
    }
  }, 60_000);
}

/** Every record of the (re-created, so at first empty) topic, read from its start until `eventIds` are there. */
async function recordsOfNewTopic(eventIds: string[]): Promise<TappedRecord[]> {
  const consumer = kafka.consumer({ groupId: `test-missing-topic-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  const records: TappedRecord[] = [];
  try {
    await consumer.subscribe({ topic: topic.name, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        const value = message.value?.toString() ?? null;
        const eventId = (JSON.parse(value ?? "{}") as { eventId?: string }).eventId ?? "";
        records.push({
          eventId,
          topic: topic.name,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value,
          headers: Object.fromEntries(
            Object.entries(message.headers ?? {}).map(([name, header]) => [name, String(header)]),
          ),
        });
      },
    });
    await eventually(
      async () => eventIds.every((id) => records.some((record) => record.eventId === id)),
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    return records.filter((record) => eventIds.includes(record.eventId));
  } finally {
    await consumer.disconnect();
  }
}

async function stalledGauge(registry: Registry): Promise<number> {
  return (await registry.getSingleMetric("outbox_relay_stalled")?.get())?.values[0]?.value ?? 0;
}

async function appendAiEvents(): Promise<string[]> {
  const events = await writeTransaction(db, (tx) =>
    appendEvents(tx, testEventContext(), [
      exampleEvent("ai.model.trained"),
      exampleEvent("ai.model.trained"),
    ]),
  );
  return events.map((event) => event.eventId);
}

async function expectStalledOnMissingTopic(
  relay: ReturnType<typeof startRelay>,
  registry: Registry,
  lines: () => Array<Record<string, unknown>>,
  written: string[],
): Promise<void> {
  await eventually(async () => relay.stalled !== null, 30_000);
  expect(relay.stalled).toContain(`no topic ${topic.name}`);
  expect(await stalledGauge(registry)).toBe(1);
  const ready = await healthRoutes([relay.readiness]).request("/health/ready");
  expect(ready.status).toBe(503);
  const refusal = lines().find((line) =>
    String(line.kafkaError ?? "").startsWith("UNKNOWN_TOPIC_OR_PARTITION"),
  );
  expect(refusal?.topics).toEqual([topic.name]);
  // The first 20 of the batch's events for the topic: ours, unless events of other files wait before them.
  const named = refusal?.eventIds as string[];
  expect(named.length).toBeGreaterThan(0);
  if (refusal?.events === written.length) expect(named).toEqual(written);
  const { rows: topicsNamed } = await db.$client.query<{ topic: string }>(
    "SELECT DISTINCT topic FROM outbox WHERE event_id = ANY($1::uuid[])",
    [named],
  );
  expect(topicsNamed).toEqual([{ topic: topic.name }]);
  // Not skipped: the checkpoint has not passed them.
  expect(await relayCheckpointBefore(db, written[0] as string)).toBe(true);
}

describe("a topic that does not exist", () => {
  it("when the relay takes the lead stalls it visibly, and creating the topic resumes it with nothing lost", async () => {
    await deleteTopic();
    const written = await appendAiEvents();
    const { log, lines } = capturedLog();
    const registry = new Registry();
    const relay = startRelay({ registry, log, stalledRetryMs: 200 });
    try {
      await expectStalledOnMissingTopic(relay, registry, lines, written);
      await recreateTopic();
      expectExactlyOnce(await recordsOfNewTopic(written), written);
      await eventually(async () => relay.stalled === null);
      expect(await stalledGauge(registry)).toBe(0);
    } finally {
      await relay.stop();
    }
  });

  it("deleted while the relay runs stalls it visibly, and re-creating the topic resumes it with nothing lost", async () => {
    // The topic as the catalog has it, whatever the case before left.
    await recreateTopic();
    const { log, lines } = capturedLog();
    const registry = new Registry();
    const relay = startRelay({ registry, log, stalledRetryMs: 200, topicCheckMs: 500 });
    try {
      // The relay has read the topic's limits: it knows the topic, and sends to it straight away.
      const before = await appendAiEvents();
      await eventually(async () => relay.leader && (await stalledGauge(registry)) === 0);
      await eventually(async () => {
        const { rows } = await db.$client.query<{ done: boolean }>(
          `SELECT EXISTS (SELECT FROM relay_checkpoints c, outbox o WHERE c.name = 'outbox' AND o.event_id = $1
                             AND (c.tx_id, c.position) >= (o.tx_id, o.position)) AS done`,
          [before.at(-1)],
        );
        return rows[0]?.done;
      });
      await deleteTopic();
      const written = await appendAiEvents();
      await expectStalledOnMissingTopic(relay, registry, lines, written);
      await recreateTopic();
      expectExactlyOnce(await recordsOfNewTopic(written), written);
      await eventually(async () => relay.stalled === null);
      expect(await stalledGauge(registry)).toBe(0);
    } finally {
      await relay.stop();
    }
  });
});

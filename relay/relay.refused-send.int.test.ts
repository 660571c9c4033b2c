// A send Kafka refuses for good (here: records larger than an operator set the topic's max.message.bytes to)
// is never retried blindly nor skipped: the relay counts it as non-retriable, logs the event ids, reports
// itself stalled on /health/ready, tries again at its interval (not at every commit), and resumes with nothing
// lost once the topic's config is fixed.
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
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
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { setTopicMessageLimit } from "../test/kafkaTopics.ts";
import { relayCheckpointBefore } from "../test/relayCheckpoint.ts";

// The quietest catalog topic: other work on the broker is least likely to write to it meanwhile.
const topic = topicDefinition("ai-events");
const db = testDatabase();
const admin = createKafka({ brokers: kafkaBrokers(), clientId: "test-refused-send" }).admin();

afterAll(async () => {
  // The catalog's configs again, whatever happened in the test.
  await applyTopics(admin, { topics: [topic], log: { info: () => {}, warn: () => {} } });
  await admin.disconnect();
  await db.$client.end();
});

/**
 * Publishes what earlier files left in the shared outbox: the relay stops at the first batch Kafka refuses, and
 * an earlier file's ai-events (larger than the limit set below too) would be that batch, not this test's.
 */
async function publishBacklog(): Promise<void> {
  const { rows } = await db.$client.query<{ txId: string; position: string }>(
    `SELECT tx_id::text AS "txId", position::text AS position FROM outbox ORDER BY tx_id DESC, position DESC LIMIT 1`,
  );
  const last = rows[0];
  if (!last) return;
  const relay = startRelay();
  try {
    await eventually(async () => {
      const checkpoint = await db.$client.query<{ done: boolean }>(
        "SELECT (tx_id, position) >= ($1::xid8, $2::bigint) AS done FROM relay_checkpoints WHERE name = 'outbox'",
        [last.txId, last.position],
      );
      return checkpoint.rows[0]?.done === true;
    }, 60_000);
  } finally {
    await relay.stop();
  }
}

async function refusedCount(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric("outbox_relay_publish_errors_total")?.get();
  return metric?.values.find((value) => value.labels.retriable === "false")?.value ?? 0;
}

async function gauge(registry: Registry, name: string): Promise<number> {
  return (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
}

describe("a send Kafka refuses for good", () => {
  it("stalls the relay visibly, with the event ids logged, and resumes with nothing lost once fixed", async () => {
    await admin.connect();
    await publishBacklog();
    await setTopicMessageLimit(admin, topic, 256);
    const events = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [
        exampleEvent("ai.model.trained"),
        exampleEvent("ai.model.trained"),
        exampleEvent("ai.model.trained"),
      ]),
    );
    const written = events.map((event) => event.eventId);
    const tap = await tapTopic(kafkaBrokers(), topic.name);

    const { log, lines } = capturedLog();
    const registry = new Registry();
    const relay = startRelay({ registry, log, stalledRetryMs: 200 });
    const health = healthRoutes([relay.readiness]);
    try {
      await eventually(async () => (await refusedCount(registry)) >= 2);
      expect(relay.stalled).toContain("MESSAGE_TOO_LARGE");
      expect(await gauge(registry, "outbox_relay_stalled")).toBe(1);
      const ready = await health.request("/health/ready");
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { checks: { relay: { status: string } } }).checks.relay.status).toBe(
        "down",
      );
      const refusal = lines().find((line) => line.kafkaError);
      expect(refusal?.kafkaError).toBe("MESSAGE_TOO_LARGE");
      expect(refusal?.eventIds).toContain(written[0]);
      expect(JSON.stringify(refusal)).not.toContain('"data"');
      expect(await relayCheckpointBefore(db, written[0] as string)).toBe(true);

      await applyTopics(admin, { topics: [topic], log: { info: () => {}, warn: () => {} } });
      const records = await tap.collect({ done: containsAll(written), timeoutMs: 60_000 });
      expectExactlyOnce(
        records.filter((record) => written.includes(record.eventId)),
        written,
      );
      await eventually(async () => relay.stalled === null);
      expect(await gauge(registry, "outbox_relay_stalled")).toBe(0);
      // (readiness gives a check's answer again for up to a second: CHECK_REUSE_MS)
      await eventually(async () => (await health.request("/health/ready")).status === 200);
    } finally {
      await relay.stop();
    }
  });

  it("waits its retry interval while stalled, however many writes commit meanwhile", async () => {
    await publishBacklog();
    await setTopicMessageLimit(admin, topic, 256);
    await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [exampleEvent("ai.model.trained")]),
    );
    const registry = new Registry();
    const relay = startRelay({ registry, stalledRetryMs: 60_000 });
    try {
      await eventually(async () => (await refusedCount(registry)) >= 1);
      // Each commit notifies the relay: a wait that ended at every one sent the refused batch again at every write.
      for (let write = 0; write < 20; write++) {
        await writeTransaction(db, (tx) =>
          appendEvents(tx, testEventContext(), [exampleEvent("patient.consent.changed")]),
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(await refusedCount(registry)).toBe(1);
      expect(relay.stalled).toContain("MESSAGE_TOO_LARGE");
    } finally {
      // The topic fixed before the relay stops: the next relay of the lane publishes what is left.
      await applyTopics(admin, { topics: [topic], log: { info: () => {}, warn: () => {} } });
      await relay.stop();
    }
  });
});

// A dead letter Kafka refuses for good (here: its dead-letter topic's max.message.bytes lowered below the
// record) is neither handled nor skipped: the consumer counts the refusal, its partition waits, and once the
// topic takes it again the record is parked and the partition carries on, in order.
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { applyTopics } from "../../events/apply-topics.ts";
import { topics } from "../../events/catalog.ts";
import { createKafka } from "../../kafka/client.ts";
import { tapDeadLetters } from "../../test/consumers/deadLetterTap.ts";
import { effectsOf } from "../../test/consumers/effects.ts";
import { startEffectConsumer, useEffectsDatabase } from "../../test/consumers/inProcess.ts";
import { metricValue } from "../../test/consumers/metrics.ts";
import { onPartition, patientCreatedRecord, publish } from "../../test/consumers/records.ts";
import { eventually, kafkaBrokers } from "../../test/fixtures.ts";
import { setTopicConfigs } from "../../test/kafkaTopics.ts";

const deadLetterTopic = topics.find((topic) => topic.name === "patient-events.dlq");
if (!deadLetterTopic) throw new Error("the catalog has no patient-events.dlq");
const db = useEffectsDatabase();
const admin = createKafka({ brokers: kafkaBrokers(), clientId: "test-dead-letter-refused" }).admin();

afterAll(async () => {
  // The catalog's configs again, whatever happened in the test.
  await applyTopics(admin, { topics: [deadLetterTopic], log: { info: () => {}, warn: () => {} } });
  await admin.disconnect();
});

const setDeadLetterLimit = (maxMessageBytes: string) =>
  setTopicConfigs(admin, deadLetterTopic.name, {
    ...deadLetterTopic.configs,
    "max.message.bytes": maxMessageBytes,
  });

describe("a dead letter Kafka refuses for good", () => {
  it("holds its partition, counted and alerted, and is parked once the dead-letter topic takes it", async () => {
    await admin.connect();
    await setDeadLetterLimit("20000");
    // Not JSON, so poison; random, so no codec shrinks it under the limit.
    const poison = onPartition(patientCreatedRecord(), 3);
    poison.message.value = randomBytes(40_000).toString("base64");
    const after = onPartition(patientCreatedRecord(), 3);
    const deadLetters = await tapDeadLetters(kafkaBrokers(), "patient-events");
    const started = await startEffectConsumer(db, "dlq-refused");
    try {
      await publish(kafkaBrokers(), [poison, after], db);
      const refusals = () =>
        metricValue(started.registry, "consumer_dead_letter_refusals_total", {
          topic: "patient-events",
          code: "MESSAGE_TOO_LARGE",
        });
      await eventually(async () => (await refusals()) >= 1, 30_000);

      // Neither skipped nor handled past: the record behind it waits, and the group's offset stays before it.
      await sleep(2_000);
      expect((await effectsOf(db, started.name)).map((effect) => effect.eventId)).not.toContain(
        after.eventId,
      );
      expect(await metricValue(started.registry, "consumer_records_dead_lettered_total")).toBe(0);

      await setDeadLetterLimit(deadLetterTopic.configs["max.message.bytes"] as string);
      await eventually(
        async () => (await effectsOf(db, started.name)).some((effect) => effect.eventId === after.eventId),
        60_000,
      );
      const parked = await deadLetters.parkedBy(started.name);
      expect(parked.map(({ letter }) => [letter.reason, letter.error])).toEqual([["poison", "not-json"]]);
      expect(parked[0]?.message.value?.toString()).toBe(poison.message.value);
      expect(await refusals()).toBeGreaterThanOrEqual(1);
    } finally {
      await started.stop();
    }
  });
});

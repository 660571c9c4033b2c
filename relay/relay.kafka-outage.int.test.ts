// Kafka stopped while writes go on, then started again: the relay backs off, resumes, and loses nothing.

import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { startKafka, stopKafka } from "../stack/kafka.ts";
import { eventually, kafkaBrokers, startRelay, testDatabase } from "../test/fixtures.ts";
import { expectExactlyOnce, expectPerKeyOrder } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { startSequentialWriter } from "../test/sequentialWriter.ts";
import { workerLane } from "../test/workerLane.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

describe("the relay through a Kafka outage", () => {
  // Stopping the broker needs the project's own one; a broker given in KAFKA_BROKERS is not ours to stop.
  it.skipIf(!workerLane().localKafka)(
    "publishes everything written while the broker was down once it is back",
    async () => {
      const tap = await tapTopic(kafkaBrokers(), "patient-events");
      const registry = new Registry();
      const relay = startRelay({ registry });
      const writer = startSequentialWriter(db, { patients: 8 });
      await eventually(async () => writer.count() >= 40);

      await stopKafka();
      const writtenWhileDown = writer.count();
      await eventually(async () => writer.count() >= writtenWhileDown + 80);
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await startKafka();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await writer.stop();

      const expected = [...writer.committed.values()].flat();
      const wanted = new Set(expected);
      const records = await tap.collect({
        done: containsAll(wanted),
        timeoutMs: 90_000,
      });
      await relay.stop();

      expectPerKeyOrder(records, writer.committed);
      const ours = records.filter((record) => wanted.has(record.eventId));
      expect(new Set(ours.map((record) => record.eventId)).size).toBe(wanted.size);
      const errors = await registry.getSingleMetric("outbox_relay_publish_errors_total")?.get();
      expect(errors?.values[0]?.value ?? 0).toBeGreaterThan(0);
      // Nothing written before the outage or after it is missing, and nothing foreign was invented.
      expectExactlyOnce(
        ours.filter((record, index) => ours.findIndex((other) => other.eventId === record.eventId) === index),
        expected,
      );
    },
  );
});

// A consumer kafkajs stops for good (a failure it does not retry, such as a batch in a codec it cannot read), or
// restarts again and again on the same failure, reads nothing while its process goes on serving: the process's
// readiness says so, naming it. Before, /health/ready stayed up and only the lag alert, ten minutes on, told anyone.
import kafkajs from "kafkajs";
import { describe, expect, it } from "vitest";
import { compressionType } from "../../kafka/compression.ts";
import { effectConsumer, effectsOf, uniqueConsumerName } from "../../test/consumers/effects.ts";
import { startTestConsumer, useEffectsDatabase } from "../../test/consumers/inProcess.ts";
import { onPartition, patientCreatedRecord, publish } from "../../test/consumers/records.ts";
import { eventually, kafkaBrokers } from "../../test/fixtures.ts";
import { consumersReadiness } from "../platformConsumers.ts";

const { CompressionCodecs, KafkaJSNotImplemented } = kafkajs;
const db = useEffectsDatabase();

describe("a consumer kafkajs stops for good", () => {
  it("makes the consumers' readiness down, naming it and why", async () => {
    const definition = effectConsumer(uniqueConsumerName("crashed"));
    const options = { db, kafkaBrokers: kafkaBrokers(), name: definition.name };
    // The group starts at the topic's end, then a batch follows in a codec this process will not read.
    await (await startTestConsumer(definition, options)).stop();
    await publish(kafkaBrokers(), [onPartition(patientCreatedRecord(), 1)], db, { compression: "snappy" });
    const snappy = compressionType("snappy");
    const codecs = CompressionCodecs as Record<number, unknown>;
    const codec = codecs[snappy];
    // As kafkajs ships it: Snappy is one of its codecs, and throws.
    codecs[snappy] = () => {
      // Its type declares no message; its class takes one.
      throw new (KafkaJSNotImplemented as unknown as new (message: string) => Error)(
        "Snappy compression not implemented",
      );
    };
    const started = await startTestConsumer(definition, { ...options, restart: true });
    try {
      const readiness = consumersReadiness([started.consumer]);
      await eventually(async () => started.consumer.stalled !== null);
      await expect(readiness.check()).rejects.toThrow(
        `reading nothing: ${definition.name} (stopped for good, until restarted: Snappy compression not implemented)`,
      );
    } finally {
      codecs[snappy] = codec;
      await started.stop();
    }
  });

  it("restarted again and again by the same failure, is down too, and up again once it reads", async () => {
    const definition = effectConsumer(uniqueConsumerName("restarting"));
    const options = { db, kafkaBrokers: kafkaBrokers(), name: definition.name };
    await (await startTestConsumer(definition, options)).stop();
    const record = onPartition(patientCreatedRecord(), 2);
    await publish(kafkaBrokers(), [record], db, { compression: "snappy" });
    const snappy = compressionType("snappy");
    const codecs = CompressionCodecs as Record<number, unknown>;
    const codec = codecs[snappy];
    // A failure kafkajs takes for one that may pass: it restarts the consumer, which fails on the batch again.
    codecs[snappy] = () => ({
      decompress: () => {
        throw new Error("this batch cannot be read");
      },
    });
    const started = await startTestConsumer(definition, { ...options, restart: true });
    try {
      const readiness = consumersReadiness([started.consumer]);
      await eventually(async () => started.consumer.stalled !== null, 60_000);
      await expect(readiness.check()).rejects.toThrow(
        /^reading nothing: restarting-\w+ \(restarted 3 times in a row without a fetch read whole: .*this batch cannot be read/,
      );
      // The cause fixed: the next restart reads the batch, applies its record, and the consumer is up.
      codecs[snappy] = codec;
      await eventually(async () =>
        (await effectsOf(db, started.name)).some((effect) => effect.eventId === record.eventId),
      );
      await expect(readiness.check()).resolves.toBeUndefined();
    } finally {
      codecs[snappy] = codec;
      await started.stop();
    }
  });

  it("is up while every consumer runs", async () => {
    await expect(consumersReadiness([{ name: "patient-directory", stalled: null }]).check()).resolves.toBe(
      undefined,
    );
  });
});

// Consumers read every codec Kafka has, whoever wrote the batch: the relay writes KAFKA_COMPRESSION's (none, gzip,
// LZ4, Zstandard), and any client with write access to a topic may choose Snappy, as Kafka's Java producer writes
// it. A batch that kafkajs could not decompress stopped the consumer for good, on every partition of its topics.
import { describe, expect, it } from "vitest";
import { effectsOf } from "../../test/consumers/effects.ts";
import { startEffectConsumer, useEffectsDatabase } from "../../test/consumers/inProcess.ts";
import { onPartition, patientCreatedRecord, publish } from "../../test/consumers/records.ts";
import { eventually, kafkaBrokers } from "../../test/fixtures.ts";

const db = useEffectsDatabase();

describe("a batch compressed by another client", () => {
  it.each(["snappy", "gzip", "zstd", "lz4", "none"] as const)(
    "with %s is read and applied, and its partition carries on",
    async (compression) => {
      const compressed = onPartition(patientCreatedRecord(), 4);
      const after = onPartition(patientCreatedRecord(), 4);
      const started = await startEffectConsumer(db, `codec-${compression}`);
      try {
        await publish(kafkaBrokers(), [compressed], db, { compression });
        await publish(kafkaBrokers(), [after], db);
        await eventually(async () =>
          (await effectsOf(db, started.name)).some((effect) => effect.eventId === after.eventId),
        );
        const ours = new Set([compressed.eventId, after.eventId]);
        const effects = (await effectsOf(db, started.name)).filter((effect) => ours.has(effect.eventId));
        expect(effects.map((effect) => effect.eventId)).toEqual([compressed.eventId, after.eventId]);
      } finally {
        await started.stop();
      }
    },
  );
});

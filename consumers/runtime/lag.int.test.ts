// A consumer that has read a partition to its end has committed its end: the relay sends in Kafka transactions,
// each ending in a commit marker that takes an offset and holds no record, and a group committed only past its
// last record showed a lag (consumer_lag_records) of 1 for ever on every partition it had read.
import { describe, expect, it } from "vitest";
import { createKafka } from "../../kafka/client.ts";
import { effectsOf } from "../../test/consumers/effects.ts";
import { startEffectConsumer, useEffectsDatabase } from "../../test/consumers/inProcess.ts";
import { onPartition, patientCreatedRecord, publish } from "../../test/consumers/records.ts";
import { eventually, kafkaBrokers } from "../../test/fixtures.ts";

const db = useEffectsDatabase();
const PARTITION = 1;

describe("a partition read to its end, its records sent in a transaction as the relay sends them", () => {
  it("is committed past the transaction's commit marker, to the partition's end", async () => {
    const started = await startEffectConsumer(db, "lag");
    const admin = createKafka({ brokers: kafkaBrokers(), clientId: "lag-test" }).admin();
    await admin.connect();
    try {
      const records = [patientCreatedRecord(), patientCreatedRecord()].map((record) =>
        onPartition(record, PARTITION),
      );
      await publish(kafkaBrokers(), records, db, { transactional: true });
      const end = async () =>
        Number(
          (await admin.fetchTopicOffsets("patient-events")).find((one) => one.partition === PARTITION)?.high,
        );
      // The end as the transaction left it (other files' records may come after: the group then goes past it).
      const endAfterTransaction = await end();
      await eventually(async () => (await effectsOf(db, started.name)).length === records.length);
      const committed = async () => {
        const [topic] = await admin.fetchOffsets({ groupId: started.name, topics: ["patient-events"] });
        return Number(topic?.partitions.find((one) => one.partition === PARTITION)?.offset ?? -1);
      };
      await eventually(async () => (await committed()) >= endAfterTransaction, 10_000).catch(() => {});
      // It stopped one short, before the marker: a lag of 1 for ever.
      expect(await committed()).toBeGreaterThanOrEqual(endAfterTransaction);
    } finally {
      await admin.disconnect();
      await started.stop();
    }
  });
});

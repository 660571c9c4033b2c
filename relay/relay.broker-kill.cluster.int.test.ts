// The broker leading a busy partition killed with SIGKILL while the relay publishes with acks=all to topics of
// three replicas (min.insync.replicas=2): the two survivors elect a leader and keep acknowledging writes, the
// relay goes on publishing while the broker is down, and no committed event is lost or reordered.
import { afterAll, describe, expect, it } from "vitest";
import { describeKafkaCluster, killKafkaNode, startKafkaNode } from "../stack/kafka.ts";
import { eventually, kafkaBrokers, startRelay, testDatabase } from "../test/fixtures.ts";
import { expectExactlyOnce, expectPerKeyOrder } from "../test/kafkaAssertions.ts";
import { leaderIndex, ownCluster } from "../test/kafkaCluster.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { startSequentialWriter } from "../test/sequentialWriter.ts";

const db = testDatabase();
const eventIdOf = (value: Buffer | null) =>
  (JSON.parse(value?.toString() ?? "{}") as { eventId?: string }).eventId;
afterAll(() => db.$client.end());

describe("the relay on a three-broker cluster", () => {
  it("keeps publishing every committed event, in order per patient, while a partition's leader broker is killed", async () => {
    const cluster = ownCluster();
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const relay = startRelay();
    const writer = startSequentialWriter(db, { patients: 8 });
    const ids = () => new Set([...writer.committed.values()].flat());
    let victim: number | undefined;
    try {
      await eventually(async () => writer.count() >= 40);
      const published = await eventually(async () => {
        const records = await tap.read();
        return records.length > 0 && records;
      });
      // A partition the writer's patients are on: its leader is the broker whose loss they feel.
      const busyPartition = published[0]?.partition ?? 0;
      victim = await leaderIndex("patient-events", busyPartition);
      const beforeKill = ids();
      await killKafkaNode(victim, cluster);

      await eventually(async () => writer.count() >= beforeKill.size + 150, 60_000);
      const duringOutage = [...ids()].filter((id) => !beforeKill.has(id));
      // Read while the broker is still down: acks=all was satisfied by the two in-sync survivors. A read that
      // meets the dead broker in its metadata fails (kafkajs restarts its consumer) and is tried again.
      const publishedWhileDown = await eventually(async () => {
        const records = await tap.read().catch(() => undefined);
        const seen = new Set(records?.map((record) => eventIdOf(record.message.value)));
        return records !== undefined && duringOutage.every((id) => seen.has(id)) && seen;
      }, 90_000);
      expect(duringOutage.filter((id) => !publishedWhileDown.has(id))).toEqual([]);
      expect((await describeKafkaCluster(cluster)).nodes[victim]?.pid).toBeUndefined();
      expect(await leaderIndex("patient-events", busyPartition)).not.toBe(victim);

      await startKafkaNode(victim, cluster);
      victim = undefined;
      const afterRestart = writer.count();
      await eventually(async () => writer.count() >= afterRestart + 40);
    } finally {
      await writer.stop();
      if (victim !== undefined) await startKafkaNode(victim, cluster);
    }

    const expected = [...writer.committed.values()].flat();
    const wanted = new Set(expected);
    const records = await tap.collect({ done: containsAll(wanted), timeoutMs: 90_000 });
    await relay.stop();
    expectPerKeyOrder(records, writer.committed);
    const ours = records.filter((record) => wanted.has(record.eventId));
    // A batch the relay sent again after a failed acknowledgement may repeat; the idempotent producer keeps a
    // retried send single, and nothing committed is missing or invented.
    expectExactlyOnce(
      ours.filter((record, index) => ours.findIndex((other) => other.eventId === record.eventId) === index),
      expected,
    );
    await eventually(
      async () => (await describeKafkaCluster(cluster)).underReplicatedPartitions === 0,
      120_000,
    );
  });
});

// A topic created with one replica (before the cluster, or by hand) gets its two missing replicas from
// applyTopics by partition reassignment: its records are copied, so they survive the loss of the broker
// that held the only copy, and nothing is deleted on the way.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Admin, createIdempotentProducer, createKafka } from "../kafka/client.ts";
import { describeKafkaCluster, killKafkaNode, startKafkaNode } from "../stack/kafka.ts";
import { eventually, kafkaBrokers } from "../test/fixtures.ts";
import { leaderIndex, ownCluster } from "../test/kafkaCluster.ts";
import { applyTopics, type TopicSpec } from "./apply-topics.ts";

const TOPIC_RESOURCE = 2; // ConfigResourceTypes.TOPIC
const spec: TopicSpec = {
  name: `reassignment-test-${randomUUID().slice(0, 8)}`,
  partitions: 3,
  configs: { "cleanup.policy": "delete", "retention.ms": String(7 * 24 * 60 * 60 * 1000) },
};

let admin: Admin;
beforeAll(async () => {
  admin = createKafka({ brokers: kafkaBrokers(), clientId: "reassignment-test" }).admin();
  await admin.connect();
});
afterAll(async () => {
  await admin.deleteTopics({ topics: [spec.name] }).catch(() => undefined);
  await admin.disconnect();
});

/** Every record of the topic, read from the beginning, as `key=value` per partition in offset order. */
async function readAll(expected: number): Promise<string[]> {
  const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "reassignment-test-reader" });
  const consumer = kafka.consumer({ groupId: `reassignment-test-${randomUUID()}`, maxWaitTimeInMs: 100 });
  const records: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: spec.name, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        records.push(`${partition}:${message.key?.toString()}=${message.value?.toString()}`);
      },
    });
    const deadline = Date.now() + 60_000;
    while (records.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    return records;
  } finally {
    await consumer.disconnect();
  }
}

describe("applyTopics on a topic with one replica", () => {
  it("adds two replicas by reassignment and keeps every record, even once the original broker is gone", async () => {
    const cluster = ownCluster();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: spec.name, numPartitions: spec.partitions, replicationFactor: 1 }],
    });
    const producer = createIdempotentProducer(
      createKafka({ brokers: kafkaBrokers(), clientId: "reassignment-test" }),
    );
    await producer.connect();
    const written = Array.from({ length: 600 }, (_, i) => ({ key: `k${i % 20}`, value: `v${i}` }));
    try {
      for (let i = 0; i < written.length; i += 100) {
        await producer.send({ topic: spec.name, acks: -1, messages: written.slice(i, i + 100) });
      }
    } finally {
      await producer.disconnect();
    }
    const before = await readAll(written.length);
    expect(before).toHaveLength(written.length);

    const summary = await applyTopics(admin, { topics: [spec], log: { info: () => {}, warn: () => {} } });
    expect(summary.updated).toEqual([spec.name]);
    expect(summary.reports[0]?.changes).toContain("replicas: 1 -> 3");

    const { topics } = await admin.fetchTopicMetadata({ topics: [spec.name] });
    expect(topics[0]?.partitions).toHaveLength(spec.partitions);
    for (const partition of topics[0]?.partitions ?? []) {
      expect(new Set(partition.replicas).size).toBe(3);
      expect(partition.isr).toHaveLength(3);
    }
    const { resources } = await admin.describeConfigs({
      resources: [{ type: TOPIC_RESOURCE, name: spec.name }],
      includeSynonyms: false,
    });
    const configs = Object.fromEntries(
      (resources[0]?.configEntries ?? []).map((entry) => [entry.configName, entry.configValue]),
    );
    expect(configs["min.insync.replicas"]).toBe("2");

    // The broker that led partition 0 before holds no more of its data than the two new replicas do.
    const leader = await leaderIndex(spec.name, 0);
    await killKafkaNode(leader, cluster);
    try {
      expect((await readAll(written.length)).sort()).toEqual([...before].sort());
    } finally {
      await startKafkaNode(leader, cluster);
      // The next file finds the cluster whole again: the restarted broker back in every in-sync set.
      await eventually(
        async () => (await describeKafkaCluster(cluster)).underReplicatedPartitions === 0,
        120_000,
      );
    }
  });
});

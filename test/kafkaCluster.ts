// Test support for the cluster tests: the project's own Kafka cluster under test (its nodes are killed on
// purpose, so it must be one this checkout started), and which node leads a partition.
import { inject } from "vitest";
import { createKafka } from "../kafka/client.ts";
import type { KafkaCluster } from "../stack/kafka.ts";
import { kafkaBrokers } from "./fixtures.ts";
import { workerLane } from "./workerLane.ts";

/**
 * The cluster the suite runs against. The cluster tests kill and restart its nodes, so one this checkout did
 * not start (KAFKA_BROKERS naming someone else's) makes them fail with the reason rather than pass untested.
 */
export function ownCluster(): KafkaCluster {
  const cluster = inject("kafkaCluster");
  if (!workerLane().localKafka || cluster.brokerCount < 3) {
    throw new Error(
      `the cluster tests kill brokers, so they need a Kafka of three nodes this checkout started (KAFKA_PORT, ` +
        `KAFKA_BROKER_COUNT=3); ${kafkaBrokers().join(",")} is not one`,
    );
  }
  return cluster;
}

/** The node index (0-based; node.id - 1) that leads `partition` of `topic` now. */
export async function leaderIndex(topic: string, partition = 0): Promise<number> {
  const admin = createKafka({ brokers: kafkaBrokers(), clientId: "cluster-test-leader" }).admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const leader = topics[0]?.partitions.find((entry) => entry.partitionId === partition)?.leader ?? -1;
    if (leader < 1) throw new Error(`${topic}[${partition}] has no leader`);
    return leader - 1;
  } finally {
    await admin.disconnect();
  }
}

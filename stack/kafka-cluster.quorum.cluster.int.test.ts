// Three KRaft nodes form one cluster: every broker registered, a three-voter controller quorum that elects a
// new leader when its leader is killed, and the killed node rejoining on its own storage.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { untilTopicsServed } from "../events/apply-topics.ts";
import { createKafka } from "../kafka/client.ts";
import { eventually, kafkaBrokers } from "../test/fixtures.ts";
import { ownCluster } from "../test/kafkaCluster.ts";
import { describeKafkaCluster, kafkaNodeId, killKafkaNode, startKafkaNode } from "./kafka.ts";

async function createTopic(brokers: string[]): Promise<string> {
  const admin = createKafka({ brokers, clientId: "quorum-test" }).admin();
  const topic = `quorum-test-${randomUUID()}`;
  await admin.connect();
  try {
    // Two replicas: as many as there are brokers left while one is down.
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, replicationFactor: 2 }],
      waitForLeaders: false,
    });
    // Not kafkajs' waitForLeaders: it gives up on the UNKNOWN_TOPIC_OR_PARTITION a broker answers until the new
    // topic reaches its metadata cache.
    await untilTopicsServed(admin, [{ name: topic, partitions: 1 }], undefined);
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    return `${topics[0]?.partitions[0]?.replicas.length} replicas`;
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

/** The brokers the cluster's metadata lists (not fenced), by node id; none while no broker answers. */
async function registeredBrokers(): Promise<number[]> {
  const admin = createKafka({ brokers: kafkaBrokers(), clientId: "quorum-test" }).admin();
  try {
    await admin.connect();
    const { brokers } = await admin.describeCluster();
    return brokers.map((broker) => broker.nodeId).sort((a, b) => a - b);
  } catch {
    return [];
  } finally {
    await admin.disconnect();
  }
}

describe("a three-node Kafka cluster", () => {
  it("registers three brokers and keeps a controller quorum when the controller leader is killed", async () => {
    const cluster = ownCluster();
    expect(await registeredBrokers()).toEqual([1, 2, 3]);
    const before = await describeKafkaCluster(cluster);
    expect(before.nodes.map((node) => node.up)).toEqual([true, true, true]);
    expect(before.underReplicatedPartitions).toBe(0);
    const leader = before.controllerLeader;
    expect([1, 2, 3]).toContain(leader);

    // With one voter, killing it would stop every metadata change; with three, the other two elect a leader.
    const killed = (leader as number) - 1;
    await killKafkaNode(killed, cluster);
    try {
      const during = await eventually(async () => {
        const state = await describeKafkaCluster(cluster);
        return state.controllerLeader !== undefined && state.controllerLeader !== leader && state;
      }, 60_000);
      expect(during.nodes[killed]?.pid).toBeUndefined();
      // Until the quorum fences the dead broker (its session times out), metadata still lists it, and kafkajs
      // may send the CreateTopics to it and give up at the refused connection without asking another broker.
      const survivors = [1, 2, 3].filter((nodeId) => nodeId !== leader).join();
      await eventually(() => registeredBrokers().then((nodeIds) => nodeIds.join() === survivors), 60_000);
      expect(await createTopic(kafkaBrokers())).toBe("2 replicas");
    } finally {
      // Whatever failed, the next file finds three brokers.
      await startKafkaNode(killed, cluster);
    }
    const after = await eventually(async () => {
      const state = await describeKafkaCluster(cluster);
      return state.nodes.every((node) => node.up) && state.underReplicatedPartitions === 0 && state;
    }, 120_000);
    expect(after.nodes[killed]?.nodeId).toBe(kafkaNodeId(killed));
  });
});

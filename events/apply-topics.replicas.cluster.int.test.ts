// On a cluster of three brokers, applyTopics creates every topic with three replicas, min.insync.replicas=2
// and unclean leader election off: an acknowledged write survives the loss of any one broker.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Admin, createKafka } from "../kafka/client.ts";
import { kafkaBrokers } from "../test/fixtures.ts";
import { applyTopics, type TopicSpec } from "./apply-topics.ts";
import { topics as catalogTopics } from "./catalog.ts";

const TOPIC_RESOURCE = 2; // ConfigResourceTypes.TOPIC
const run = randomUUID().slice(0, 8);
const scratch: TopicSpec[] = catalogTopics
  .filter((topic) => ["patient-events", "audit-events"].includes(topic.name))
  .map((topic) => ({ ...topic, name: `replicas-test-${run}-${topic.name}` }));

let admin: Admin;
beforeAll(async () => {
  admin = createKafka({ brokers: kafkaBrokers(), clientId: "replicas-test" }).admin();
  await admin.connect();
});
afterAll(async () => {
  await admin.deleteTopics({ topics: scratch.map((topic) => topic.name) }).catch(() => undefined);
  await admin.disconnect();
});

describe("applyTopics on a three-broker cluster", () => {
  it("creates topics with three replicas on three brokers, min.insync.replicas=2 and no unclean election", async () => {
    const summary = await applyTopics(admin, { topics: scratch, log: { info: () => {}, warn: () => {} } });
    expect(summary.created).toEqual(scratch.map((topic) => topic.name));
    expect(summary.replication).toEqual({ factor: 3, minInsyncReplicas: 2 });

    const { topics } = await admin.fetchTopicMetadata({ topics: scratch.map((topic) => topic.name) });
    for (const topic of topics) {
      const spec = scratch.find((entry) => entry.name === topic.name);
      expect(topic.partitions).toHaveLength(spec?.partitions ?? -1);
      for (const partition of topic.partitions) {
        expect(new Set(partition.replicas).size, `${topic.name}[${partition.partitionId}]`).toBe(3);
        expect(partition.isr.length, `${topic.name}[${partition.partitionId}]`).toBe(3);
      }
      // Leadership is spread: every broker leads some partition of a topic with more partitions than brokers.
      expect(new Set(topic.partitions.map((partition) => partition.leader)).size).toBe(3);
    }
    const { resources } = await admin.describeConfigs({
      resources: scratch.map((topic) => ({ type: TOPIC_RESOURCE, name: topic.name })),
      includeSynonyms: false,
    });
    for (const resource of resources) {
      const configs = Object.fromEntries(
        resource.configEntries.map((entry) => [entry.configName, entry.configValue]),
      );
      expect(configs, resource.resourceName).toMatchObject({
        "min.insync.replicas": "2",
        "unclean.leader.election.enable": "false",
      });
    }
    // A second run finds nothing to change.
    const again = await applyTopics(admin, { topics: scratch, log: { info: () => {}, warn: () => {} } });
    expect(again.unchanged).toEqual(scratch.map((topic) => topic.name));
  });
});

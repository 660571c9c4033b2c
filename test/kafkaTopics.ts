// A test's own topic, created and served: kafkajs's `waitForLeaders` gives up on the UNKNOWN_TOPIC_OR_PARTITION
// that a KRaft broker answers for a moment while a new topic reaches its metadata cache (seen right after a
// broker restart), so the tests wait as applyTopics does, until every broker serves every partition's leader.
import { untilTopicsServed } from "../events/apply-topics.ts";
import type { TopicDefinition } from "../events/catalog.ts";
import type { Admin } from "../kafka/client.ts";
import { readTopicMessageLimits } from "../relay/topicLimits.ts";
import { eventually } from "./fixtures.ts";

/** Creates `topic` and resolves once every broker serves a leader for each of its partitions; false if it existed. */
export async function createServedTopic(
  admin: Admin,
  topic: string,
  partitions: number,
  configs: Readonly<Record<string, string>> = {},
): Promise<boolean> {
  const created = await admin.createTopics({
    topics: [
      {
        topic,
        numPartitions: partitions,
        configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })),
      },
    ],
    waitForLeaders: false,
  });
  await untilTopicsServed(admin, [{ name: topic, partitions }], undefined);
  return created;
}

const TOPIC_RESOURCE = 2; // ConfigResourceTypes.TOPIC

/**
 * Overwrites a topic's overrides as an operator would with kafka-configs.sh --alter (all others reset).
 * AlterConfigs returns before the broker applies them: a caller that depends on them waits for them.
 */
export async function setTopicConfigs(
  admin: Admin,
  topic: string,
  configs: Readonly<Record<string, string>>,
): Promise<void> {
  await admin.alterConfigs({
    validateOnly: false,
    resources: [
      {
        type: TOPIC_RESOURCE,
        name: topic,
        configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })),
      },
    ],
  });
}

/**
 * Sets a catalog topic's max.message.bytes as an operator would, its other configs the catalog's, and resolves
 * once the broker reports it.
 */
export async function setTopicMessageLimit(
  admin: Admin,
  topic: TopicDefinition,
  maxMessageBytes: number,
): Promise<void> {
  await setTopicConfigs(admin, topic.name, {
    ...topic.configs,
    "max.message.bytes": String(maxMessageBytes),
  });
  await eventually(
    async () => (await readTopicMessageLimits(admin, [topic.name])).get(topic.name) === maxMessageBytes,
    10_000,
  );
}

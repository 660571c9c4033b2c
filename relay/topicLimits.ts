// The topics' max.message.bytes as the broker holds it (a catalog value, or an operator's change), read when
// the relay takes the lead and again after Kafka refuses a send, so that byte batches follow the real limit.
import type { Admin } from "../kafka/client.ts";
import type { TopicMessageLimits } from "./byteBatches.ts";

const TOPIC_RESOURCE = 2; // ConfigResourceTypes.TOPIC

export async function readTopicMessageLimits(
  admin: Admin,
  topics: readonly string[],
): Promise<TopicMessageLimits> {
  if (topics.length === 0) return new Map();
  const described = await admin.describeConfigs({
    resources: topics.map((name) => ({ type: TOPIC_RESOURCE, name, configNames: ["max.message.bytes"] })),
    includeSynonyms: false,
  });
  const limits = new Map<string, number>();
  for (const resource of described.resources) {
    const value = resource.configEntries.find(
      (entry) => entry.configName === "max.message.bytes",
    )?.configValue;
    if (value !== undefined && Number.isFinite(Number(value)))
      limits.set(resource.resourceName, Number(value));
  }
  return limits;
}

/**
 * Those of `topics` the cluster does not have (never created, or deleted while the relay runs); none when Kafka
 * cannot be asked, as a broker down is no proof that a topic is gone.
 */
export async function missingTopics(admin: Admin, topics: readonly string[]): Promise<string[]> {
  try {
    const existing = new Set(await admin.listTopics());
    return topics.filter((topic) => !existing.has(topic));
  } catch {
    return [];
  }
}

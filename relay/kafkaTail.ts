// The last events Kafka holds: the eventId header of the newest records of every partition of the given
// topics. relay:rebase positions the cursor by them after a restore or a move of the database.

import type { createKafka } from "../kafka/client.ts";
import { readTopicRange } from "../kafka/readTopicRange.ts";

type Kafka = ReturnType<typeof createKafka>;

/**
 * Reads up to `depth` records from the end of each partition (fewer where it holds fewer) and returns their
 * event ids. Each partition is read to its end, the transaction marker a relay's or Debezium's batch ends with
 * included (readTopicRange counts batches, not messages); a partition not read to its end within `timeoutMs`
 * is an error: an incomplete tail would set the cursor too early and send again events Kafka holds.
 */
export async function lastEventIdsInKafka(
  kafka: Kafka,
  topics: readonly string[],
  options: { depth?: number; timeoutMs?: number } = {},
): Promise<string[]> {
  const depth = BigInt(options.depth ?? 100);
  const admin = kafka.admin();
  await admin.connect();
  const ranges: Array<{ topic: string; from: Map<number, bigint>; to: Map<number, bigint> }> = [];
  try {
    for (const topic of topics) {
      const from = new Map<number, bigint>();
      const to = new Map<number, bigint>();
      for (const { partition, low, high } of await admin.fetchTopicOffsets(topic)) {
        const end = BigInt(high);
        const start = end - depth > BigInt(low) ? end - depth : BigInt(low);
        from.set(partition, start);
        to.set(partition, end);
      }
      ranges.push({ topic, from, to });
    }
  } finally {
    await admin.disconnect();
  }
  const eventIds: string[] = [];
  for (const { topic, from, to } of ranges) {
    for (const { message } of await readTopicRange(kafka, topic, from, to, options.timeoutMs ?? 60_000)) {
      const eventId = message.headers?.eventId?.toString();
      if (eventId) eventIds.push(eventId);
    }
  }
  return eventIds;
}

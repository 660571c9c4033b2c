// The last events Kafka holds: the eventId header of the newest records of every partition of the given
// topics. relay:rebase positions the cursor by them after a restore or a move of the database.
import { randomUUID } from "node:crypto";
import type { createKafka } from "../kafka/client.ts";

type Kafka = ReturnType<typeof createKafka>;

/**
 * Reads up to `depth` records from the end of each partition (fewer where it holds fewer) and returns their
 * event ids. Done when every partition has delivered its last record, or when fetches go on bringing nothing
 * for `quietMs`: a partition may end in a transaction marker (Debezium writes in Kafka transactions), which
 * is never delivered.
 */
export async function lastEventIdsInKafka(
  kafka: Kafka,
  topics: readonly string[],
  options: { depth?: number; quietMs?: number } = {},
): Promise<string[]> {
  const depth = options.depth ?? 100;
  const quietMs = options.quietMs ?? 3_000;
  const admin = kafka.admin();
  await admin.connect();
  const starts: Array<{ topic: string; partition: number; from: bigint; last: bigint }> = [];
  try {
    for (const topic of topics) {
      for (const { partition, low, high } of await admin.fetchTopicOffsets(topic)) {
        const end = BigInt(high);
        if (end <= BigInt(low)) continue;
        const from = end - BigInt(depth) > BigInt(low) ? end - BigInt(depth) : BigInt(low);
        starts.push({ topic, partition, from, last: end - 1n });
      }
    }
  } finally {
    await admin.disconnect();
  }
  if (starts.length === 0) return [];

  const consumer = kafka.consumer({ groupId: `relay-rebase-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  const eventIds: string[] = [];
  const unfinished = new Set(starts.map(({ topic, partition }) => `${topic}/${partition}`));
  let lastArrival = Date.now();
  // Quiet counts only once fetching has begun (joining the group can take longer than quietMs).
  let fetchesSinceArrival = 0;
  consumer.on(consumer.events.FETCH, () => {
    fetchesSinceArrival++;
  });
  try {
    await consumer.subscribe({
      topics: [...new Set(starts.map((start) => start.topic))],
      fromBeginning: true,
    });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        lastArrival = Date.now();
        fetchesSinceArrival = 0;
        const eventId = message.headers?.eventId?.toString();
        if (eventId) eventIds.push(eventId);
        const start = starts.find((one) => one.topic === topic && one.partition === partition);
        if (start && BigInt(message.offset) >= start.last) unfinished.delete(`${topic}/${partition}`);
      },
    });
    for (const { topic, partition, from } of starts)
      consumer.seek({ topic, partition, offset: from.toString() });
    while (unfinished.size > 0 && (fetchesSinceArrival < 3 || Date.now() - lastArrival < quietMs)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await consumer.disconnect();
  }
  return eventIds;
}

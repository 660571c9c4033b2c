// Turns outbox rows into Kafka records (the record contract of docs/architecture.md) and publishes them in one
// request.
import type { OutboxRecord } from "../db/outbox/pendingOutboxBatch.ts";
import { recordHeaders } from "../events/record.ts";
import type { BatchSender, Message } from "../kafka/client.ts";

/**
 * Sends the rows with acks=all, by a producer or in a transaction. Rows keep their order within each topic, and
 * the producer (idempotent, one request in flight) keeps it within each partition, so one aggregate's events land in commit order.
 * The caller keeps each topic's share of the rows under its max.message.bytes (relay/byteBatches.ts).
 */
export async function publishBatch(producer: BatchSender, rows: readonly OutboxRecord[]): Promise<void> {
  const byTopic = new Map<string, Message[]>();
  for (const row of rows) {
    const messages = byTopic.get(row.topic) ?? [];
    byTopic.set(row.topic, messages);
    messages.push({ key: row.key, value: row.value, headers: recordHeaders(row) });
  }
  await producer.sendBatch({
    acks: -1,
    topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
  });
}

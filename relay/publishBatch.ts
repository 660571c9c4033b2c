// Turns outbox rows into Kafka records (the record contract of DESIGN.md) and publishes them in one request.

import type { OutboxRecord } from "../db/outbox/pendingOutboxBatch.ts";
import type { IHeaders, Message, Producer } from "../kafka/client.ts";

export function recordHeaders(
  row: Pick<OutboxRecord, "eventId" | "eventType" | "correlationId" | "traceparent">,
): IHeaders {
  const headers: IHeaders = {
    eventId: row.eventId,
    eventType: row.eventType,
    correlationId: row.correlationId,
  };
  if (row.traceparent) headers.traceparent = row.traceparent;
  return headers;
}

/**
 * Sends the rows with acks=all. Rows keep their order within each topic, and the producer (idempotent,
 * one request in flight) keeps it within each partition, so one aggregate's events land in commit order.
 */
export async function publishBatch(producer: Producer, rows: readonly OutboxRecord[]): Promise<void> {
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

// Turns outbox rows into Kafka records (the record contract of docs/architecture.md) and publishes them in one
// request, in a producer span linked to each writer's span.
import { SpanKind } from "@opentelemetry/api";
import type { OutboxRecord } from "../db/outbox/pendingOutboxBatch.ts";
import {
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  MESSAGING_OPERATION_TYPE_VALUE_SEND,
  MESSAGING_SYSTEM_VALUE_KAFKA,
} from "../events/messagingAttributes.ts";
import { recordHeaders } from "../events/record.ts";
import { inSpan, linkTo } from "../events/tracing.ts";
import type { BatchSender, Message } from "../kafka/client.ts";
import { firstByteBatch, type TopicMessageLimits } from "./byteBatches.ts";

/**
 * Sends the rows with acks=all, by a producer or in a transaction. Rows keep their order within each topic, and
 * the producer (idempotent, one request in flight) keeps it within each partition, so one aggregate's events land in commit order.
 * The caller keeps each topic's share of the rows under its max.message.bytes (relay/byteBatches.ts).
 *
 * The send is a span of its own trace, linked (not parented) to the span that wrote each row: one send
 * carries many requests' events, and a request's trace should not end in someone else's batch. The records
 * carry the writer's traceparent and tracestate as stored, whichever relay sends them, so a consumer
 * continues the writer's trace.
 */
export function publishBatch(producer: BatchSender, rows: readonly OutboxRecord[]): Promise<void> {
  const byTopic = new Map<string, Message[]>();
  for (const row of rows) {
    const messages = byTopic.get(row.topic) ?? [];
    byTopic.set(row.topic, messages);
    messages.push({ key: row.key, value: row.value, headers: recordHeaders(row) });
  }
  const topics = [...byTopic.keys()];
  return inSpan(
    "healthcare-events/relay",
    // Named for its topic, as the messaging conventions ask; a send to several topics is just "send".
    topics.length === 1 ? `send ${topics[0]}` : "send",
    {
      kind: SpanKind.PRODUCER,
      root: true,
      attributes: {
        [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_VALUE_KAFKA,
        [ATTR_MESSAGING_OPERATION_TYPE]: MESSAGING_OPERATION_TYPE_VALUE_SEND,
        [ATTR_MESSAGING_OPERATION_NAME]: "send",
        [ATTR_MESSAGING_BATCH_MESSAGE_COUNT]: rows.length,
        ...(topics.length === 1 ? { [ATTR_MESSAGING_DESTINATION_NAME]: topics[0] } : {}),
      },
    },
    async (span) => {
      // Read only when the span is recorded: with tracing off, the relay's hot path parses no headers.
      if (span.isRecording()) span.addLinks(writerLinks(rows));
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    },
  );
}

/** One link per writing span: the rows of one transaction share their writer's traceparent. */
function writerLinks(rows: readonly OutboxRecord[]) {
  const writers = new Map<string, OutboxRecord>();
  for (const row of rows)
    if (row.traceparent && !writers.has(row.traceparent)) writers.set(row.traceparent, row);
  return [...writers.values()].flatMap(linkTo);
}

/**
 * Publishes the rows in order, in successive sends that keep each topic's records under its max.message.bytes
 * (relay/byteBatches.ts): how the one-off publishers (relay:rebase, relay:switch) send a backlog.
 */
export async function publishInByteBatches(
  producer: BatchSender,
  rows: readonly OutboxRecord[],
  limits: TopicMessageLimits,
): Promise<void> {
  for (let remaining = rows; remaining.length > 0; ) {
    const send = firstByteBatch(remaining, limits);
    await publishBatch(producer, send);
    remaining = remaining.slice(send.length);
  }
}

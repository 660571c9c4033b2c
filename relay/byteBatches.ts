// Cuts the relay's rows into successive sends that Kafka accepts: each topic's records in one send stay under
// that topic's max.message.bytes, so no partition's record batch can be refused as too large.

import type { OutboxRecord } from "../db/outbox/pendingOutboxBatch.ts";
import {
  BATCH_OVERHEAD_BYTES,
  recordBytes,
  recordHeaders,
  TOPIC_MAX_MESSAGE_BYTES,
} from "../events/record.ts";

/** A topic's max.message.bytes, as the broker reports it. */
export type TopicMessageLimits = ReadonlyMap<string, number>;

/**
 * The longest prefix of the rows whose records, per topic, fit under the topic's limit. Rows stay in order and
 * the rest go in the next send. A record bigger than its topic's limit goes alone (Kafka then refuses it, and
 * the relay reports it as stalled): the write path bounds events well below the catalog's limit.
 */
export function firstByteBatch(rows: readonly OutboxRecord[], limits: TopicMessageLimits): OutboxRecord[] {
  const bytesPerTopic = new Map<string, number>();
  let end = 0;
  for (; end < rows.length; end++) {
    const row = rows[end] as OutboxRecord;
    // A topic the broker did not describe gets the catalog's limit, never none.
    const limit = limits.get(row.topic) ?? TOPIC_MAX_MESSAGE_BYTES;
    const used = bytesPerTopic.get(row.topic) ?? BATCH_OVERHEAD_BYTES;
    const size = recordBytes({ key: row.key, value: row.value, headers: recordHeaders(row) });
    if (used + size > limit && end > 0) break;
    bytesPerTopic.set(row.topic, used + size);
  }
  return rows.slice(0, Math.max(end, 1));
}

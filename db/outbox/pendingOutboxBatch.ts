// The relay's hot query: the next committed outbox rows after the cursor, in (tx_id, position) order.
import type { ClientBase } from "pg";
import type { RelayCursor } from "./relayCheckpoint.ts";

export interface OutboxRecord {
  txId: string;
  position: string;
  eventId: string;
  eventType: string;
  topic: string;
  key: string;
  /** The envelope JSON exactly as the writer serialized it. */
  value: string;
  correlationId: string;
  traceparent: string | null;
  createdAtMs: number;
}

/** The SELECT list that reads an outbox row as an OutboxRecord: both relays' queries use it. */
export const outboxRecordColumns = `tx_id::text AS "txId", position::text AS "position", event_id::text AS "eventId",
         event_type AS "eventType", topic, message_key AS "key", payload::text AS "value",
         correlation_id::text AS "correlationId", traceparent,
         (extract(epoch FROM created_at) * 1000)::float8 AS "createdAtMs"`;

/**
 * Rows become visible at commit, not at insert, so a plain `position > last` cursor would skip a row
 * whose transaction commits after a later one's. Reading only below the oldest still-running
 * transaction id (the snapshot's xmin) means every row at or before the returned cursor is final:
 * no transaction can still add a row there. Served by the (tx_id, position) index, with no sort.
 * ORDER BY names the table's columns: a bare `position` would mean the text column of the SELECT list.
 */
export const pendingOutboxBatchSql = `
  SELECT ${outboxRecordColumns}
    FROM outbox
   WHERE (tx_id, position) > ($1::xid8, $2::bigint)
     AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
   ORDER BY outbox.tx_id, outbox.position
   LIMIT $3`;

export async function pendingOutboxBatch(
  client: ClientBase,
  after: RelayCursor,
  limit: number,
): Promise<OutboxRecord[]> {
  const result = await client.query<OutboxRecord>({
    name: "pending_outbox_batch",
    text: pendingOutboxBatchSql,
    values: [after.txId, after.position, limit],
  });
  return result.rows;
}

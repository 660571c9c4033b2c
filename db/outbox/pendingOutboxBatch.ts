// The relay's hot query: the next committed outbox rows after the cursor, in (tx_id, position) order.
import type { ClientBase } from "pg";
import { type RelayCursor, saveRelayCheckpointSql } from "./relayCheckpoint.ts";

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
  tracestate: string | null;
  createdAtMs: number;
}

/** The SELECT list that reads an outbox row as an OutboxRecord: both relays' queries use it. */
export const outboxRecordColumns = `tx_id::text AS "txId", position::text AS "position", event_id::text AS "eventId",
         event_type AS "eventType", topic, message_key AS "key", payload::text AS "value",
         correlation_id::text AS "correlationId", traceparent, tracestate,
         (extract(epoch FROM created_at) * 1000)::float8 AS "createdAtMs"`;

/**
 * Rows become visible at commit, not at insert, so a plain `position > last` cursor would skip a row
 * whose transaction commits after a later one's. Reading only below the oldest still-running
 * transaction id (the snapshot's xmin) means every row at or before the returned cursor is final:
 * no transaction can still add a row there. Served by the (tx_id, position) index, with no sort (run in a
 * session prepared by `preparePendingOutboxSession`). ORDER BY names the table's columns: a bare `position`
 * would mean the text column of the SELECT list.
 */
export const pendingOutboxBatchSql = `
  SELECT ${outboxRecordColumns}
    FROM outbox
   WHERE (tx_id, position) > ($1::xid8, $2::bigint)
     AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
   ORDER BY outbox.tx_id, outbox.position
   LIMIT $3`;

/**
 * Prepares the relay's session so that no statistics can make a batch sort the backlog. PostgreSQL 18's skip
 * scan lets any index holding tx_id after a column of few values (outbox_event_type_history: event_type,
 * tx_id, position) serve the cursor's range too, unordered; with some statistics its estimate beats the
 * ordered range scan, and the plan becomes a Sort of every row after the cursor (seen after a full test
 * run: Limit, Sort, Index Scan). With sorting disabled, the ordered scan of outbox_relay_order is the only
 * plan without a Sort, so the planner takes it whatever the estimates, on every version.
 */
export async function preparePendingOutboxSession(client: ClientBase): Promise<void> {
  await client.query("SET enable_sort = off");
}

/**
 * The cursor saved as relay `$4`'s checkpoint, and the batch after it read, in one statement: a relay saves
 * what it has published with its next poll, not in a round trip of its own.
 */
const savedCursorThenPendingOutboxBatchSql = `
  WITH saved AS (${saveRelayCheckpointSql("$4", "$1", "$2")})${pendingOutboxBatchSql}`;

/**
 * The next rows after `after`. With `checkpoint`, the same statement first saves `after` as that relay's
 * checkpoint (a relay's cursor after its last published batch), in the poll's own transaction.
 */
export async function pendingOutboxBatch(
  client: ClientBase,
  after: RelayCursor,
  limit: number,
  checkpoint?: { name: string },
): Promise<OutboxRecord[]> {
  const result = await client.query<OutboxRecord>(
    checkpoint === undefined
      ? {
          name: "pending_outbox_batch",
          text: pendingOutboxBatchSql,
          values: [after.txId, after.position, limit],
        }
      : {
          name: "saved_cursor_then_pending_outbox_batch",
          text: savedCursorThenPendingOutboxBatchSql,
          values: [after.txId, after.position, limit, checkpoint.name],
        },
  );
  return result.rows;
}

// The handover's read: outbox rows after a polling cursor, in (tx_id, position) order, as the transaction's
// snapshot sees them. Run inside the snapshot a new slot exported, it yields exactly the rows committed
// before the slot's position that the polling relay had not published.
import type { ClientBase } from "pg";
import { type OutboxRecord, outboxRecordColumns } from "./pendingOutboxBatch.ts";
import type { RelayCursor } from "./relayCheckpoint.ts";

/**
 * Unlike the polling relay's query there is no `tx_id < xmin` horizon: the exported snapshot is final for
 * this purpose (whatever it does not see, the slot streams), and a row of a transaction that was younger than
 * a still-running one is visible in it and must be published here. ORDER BY names the table's columns: a
 * bare `position` would mean the text column of the SELECT list.
 */
export const outboxRowsAfterSql = `
  SELECT ${outboxRecordColumns}
    FROM outbox
   WHERE (tx_id, position) > ($1::xid8, $2::bigint)
   ORDER BY outbox.tx_id, outbox.position
   LIMIT $3`;

export async function outboxRowsAfter(
  client: ClientBase,
  after: RelayCursor,
  limit: number,
): Promise<OutboxRecord[]> {
  const result = await client.query<OutboxRecord>(outboxRowsAfterSql, [after.txId, after.position, limit]);
  return result.rows;
}

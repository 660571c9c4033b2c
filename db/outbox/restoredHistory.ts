// The outbox of a restored or moved database, told apart by who wrote each row: a row written on this server
// carries its own transaction's id (tx_id is the writer's pg_current_xact_id(), so its low 32 bits are the
// row's xmin); a restored row (pg_restore's COPY, a replication apply worker) carries another server's.
import type { ClientBase } from "pg";
import { type OutboxRecord, outboxRecordColumns } from "./pendingOutboxBatch.ts";
import type { RelayCursor } from "./relayCheckpoint.ts";

export type RowOrigin = "restored" | "written here";

const ORIGIN_FILTER: Record<RowOrigin, string> = {
  restored: "tx_id::xid <> xmin",
  "written here": "tx_id::xid = xmin",
};

/**
 * The next rows of one origin after `after` and below `belowTxId`, in (tx_id, position) order. ORDER BY names the
 * table's columns: a bare `position` would mean the SELECT list's text rendering of it, where 10 comes before 9.
 */
export async function rowsOfOrigin(
  client: ClientBase,
  origin: RowOrigin,
  after: RelayCursor,
  belowTxId: string,
  limit: number,
): Promise<OutboxRecord[]> {
  const result = await client.query<OutboxRecord>(
    `SELECT ${outboxRecordColumns} FROM outbox
      WHERE (tx_id, position) > ($1::xid8, $2::bigint) AND tx_id < $3::xid8 AND ${ORIGIN_FILTER[origin]}
      ORDER BY outbox.tx_id, outbox.position LIMIT $4`,
    [after.txId, after.position, belowTxId, limit],
  );
  return result.rows;
}

export async function countOfOrigin(
  client: ClientBase,
  origin: RowOrigin,
  after: RelayCursor,
  belowTxId: string,
): Promise<number> {
  const result = await client.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM outbox
      WHERE (tx_id, position) > ($1::xid8, $2::bigint) AND tx_id < $3::xid8 AND ${ORIGIN_FILTER[origin]}`,
    [after.txId, after.position, belowTxId],
  );
  return result.rows[0]?.count ?? 0;
}

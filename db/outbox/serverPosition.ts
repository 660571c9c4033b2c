// Whether the relay's cursor, and the outbox's newest row, lie in this server's past. After a logical dump and
// restore, or a move to another cluster by logical replication, they may carry transaction ids the server has
// not reached yet: the relay would then wait, silently, for rows that sort before ones it already passed.
import type { ClientBase } from "pg";
import type { RelayCursor } from "./relayCheckpoint.ts";

export interface ServerPosition {
  /** The next transaction id this server will assign (pg_snapshot_xmax: reading it assigns none). */
  nextTxId: string;
  /** The highest tx_id in the outbox, or null when it is empty. */
  newestRowTxId: string | null;
  /** The cursor, or the newest row, is at or beyond nextTxId. */
  ahead: boolean;
  /**
   * A committed row lies at or above the oldest transaction still running, so the relay may not read it yet.
   * That transaction's commit sends no NOTIFY if it writes no outbox row (a consumer's inbox, say).
   */
  heldBack: boolean;
}

/**
 * One index probe (the newest row by the (tx_id, position) index), cheap enough for every idle poll. The newest
 * row is committed (or the statement could not see it); at or above the snapshot's xmin, it is held back.
 */
export async function serverPosition(client: ClientBase, cursor: RelayCursor): Promise<ServerPosition> {
  const result = await client.query<ServerPosition>({
    name: "relay_server_position",
    text: `SELECT next.tx_id::text AS "nextTxId", newest.tx_id::text AS "newestRowTxId",
                  ($1::xid8 >= next.tx_id OR coalesce(newest.tx_id >= next.tx_id, false)) AS "ahead",
                  coalesce(newest.tx_id >= pg_snapshot_xmin(pg_current_snapshot()), false) AS "heldBack"
             FROM (SELECT pg_snapshot_xmax(pg_current_snapshot()) AS tx_id) next
             LEFT JOIN (SELECT tx_id FROM outbox ORDER BY tx_id DESC, position DESC LIMIT 1) newest ON true`,
    values: [cursor.txId],
  });
  return result.rows[0] as ServerPosition;
}

/** The relay refuses to lead over a history from the server's future; `npm run relay:rebase` re-anchors it. */
export class CursorAheadOfServer extends Error {
  constructor(
    readonly cursor: RelayCursor,
    readonly position: ServerPosition,
  ) {
    super(
      `The relay's checkpoint (tx_id ${cursor.txId}) or the outbox's newest row (tx_id ${position.newestRowTxId ?? "none"}) ` +
        `is ahead of this server's transaction ids (next: ${position.nextTxId}): the database was restored or moved. ` +
        "The relay will not publish until `npm run relay:rebase` re-anchors it (see README, The polling relay).",
    );
    this.name = "CursorAheadOfServer";
  }
}

// How far the history has been moved out of the outbox into archive files (audit:archive): every row at or
// before the latest archive's cut is gone from the table, so no read of the outbox can return it.
import type { ClientBase } from "pg";
import type { RelayCursor } from "./relayCheckpoint.ts";

export interface ArchivedHistory {
  /** The latest archive's cut: rows at or before it are archived. */
  through: RelayCursor;
  /** Every archived row was created before this. */
  createdBefore: Date;
  fileName: string;
}

export async function archivedThrough(client: Pick<ClientBase, "query">): Promise<ArchivedHistory | null> {
  return newestArchive(client, "");
}

/**
 * The newest archive recorded before archives kept their events' payload digests (migration 0029): of the events
 * it and those before it hold, consumers can check none (consumers/runtime/inbox.ts). Null when every archive
 * keeps them.
 */
export async function archivedWithoutDigests(
  client: Pick<ClientBase, "query">,
): Promise<ArchivedHistory | null> {
  return newestArchive(client, "WHERE NOT digests_kept");
}

async function newestArchive(
  client: Pick<ClientBase, "query">,
  where: "" | "WHERE NOT digests_kept",
): Promise<ArchivedHistory | null> {
  const result = await client.query<{
    txId: string;
    position: string;
    createdBefore: Date;
    fileName: string;
  }>(
    `SELECT up_to_tx_id::text AS "txId", up_to_position::text AS "position", created_before AS "createdBefore",
            file_name AS "fileName"
       FROM outbox_archives ${where} ORDER BY sequence DESC LIMIT 1`,
  );
  const row = result.rows[0];
  return row
    ? {
        through: { txId: row.txId, position: row.position },
        createdBefore: row.createdBefore,
        fileName: row.fileName,
      }
    : null;
}

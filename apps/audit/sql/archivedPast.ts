// Whether an archive has taken events past a place in the history. Archiving is the one change the outbox's
// rows ever see: it deletes the oldest, up to its cut (each archive's cut lies past the one before). An export
// asks after each page it reads, so that an archive committed while it streams cannot leave a gap in it.
import type pg from "pg";
import { compareKeys } from "../../../audit/historySpan.ts";
import { type HistoryKey, START_OF_HISTORY } from "./historyPage.ts";

/** The newest archive's cut: every event at or before it has left the outbox (the start, with no archive). */
export async function newestArchiveCut(pool: pg.Pool | pg.ClientBase): Promise<HistoryKey> {
  const result = await pool.query<HistoryKey>({
    name: "newest_archive_cut",
    text: `SELECT up_to_tx_id::text AS "txId", up_to_position::text AS "position" FROM outbox_archives
            ORDER BY up_to_tx_id DESC, up_to_position DESC LIMIT 1`,
  });
  return result.rows[0] ?? START_OF_HISTORY;
}

/**
 * Whether an archive newer than `cutAtStart` (the newest when the reader started) has deleted events after
 * `after`: a read of the events after `after` made since then may lack some.
 */
export async function archivedPast(
  pool: pg.Pool | pg.ClientBase,
  cutAtStart: HistoryKey,
  after: HistoryKey,
): Promise<boolean> {
  const since = compareKeys(after, cutAtStart) > 0 ? after : cutAtStart;
  const result = await pool.query<{ archived: boolean }>({
    name: "archived_past",
    text: `SELECT EXISTS (SELECT FROM outbox_archives
                           WHERE (up_to_tx_id, up_to_position) > ($1::xid8, $2::bigint)) AS archived`,
    values: [since.txId, since.position],
  });
  return result.rows[0]?.archived === true;
}

/**
 * The archive that took the event `eventId` out of the outbox, by the digest it kept of it: its sequence, or null
 * for an archive recorded before digests named theirs (migration 0031); undefined when no archive took it.
 */
export async function archiveOfEvent(
  pool: pg.Pool | pg.ClientBase,
  eventId: string,
): Promise<number | null | undefined> {
  const result = await pool.query<{ archive: number | null }>({
    name: "archive_of_event",
    text: `SELECT archive_sequence::int AS archive FROM outbox_archived_digests WHERE event_id = $1`,
    values: [eventId],
  });
  return result.rows[0]?.archive;
}

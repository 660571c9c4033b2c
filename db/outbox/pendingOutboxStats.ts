// How far the relay is behind: the pending rows after its cursor (counted up to a cap) and the oldest one's age.
import type pg from "pg";
import type { RelayCursor } from "./relayCheckpoint.ts";

/** Counting stops here so that a scrape stays cheap even with a huge backlog. */
export const PENDING_COUNT_CAP = 1_000_000;

export async function pendingOutboxStats(
  client: pg.Pool | pg.ClientBase,
  after: RelayCursor,
): Promise<{ pending: number; oldestAgeSeconds: number }> {
  const result = await client.query<{ pending: number; oldestAgeSeconds: number | null }>({
    name: "pending_outbox_stats",
    text: `SELECT (SELECT count(*)::int FROM (SELECT 1 FROM outbox WHERE (tx_id, position) > ($1::xid8, $2::bigint)
                                             LIMIT ${PENDING_COUNT_CAP}) capped) AS "pending",
                  (SELECT extract(epoch FROM now() - created_at)::float8 FROM outbox
                    WHERE (tx_id, position) > ($1::xid8, $2::bigint) ORDER BY tx_id, position LIMIT 1) AS "oldestAgeSeconds"`,
    values: [after.txId, after.position],
  });
  const row = result.rows[0];
  return { pending: row?.pending ?? 0, oldestAgeSeconds: row?.oldestAgeSeconds ?? 0 };
}

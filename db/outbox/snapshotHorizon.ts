// The oldest transaction still running (the snapshot's xmin): every outbox row of a transaction below it is
// final, so a read bounded by it is one fixed cut of the history, however transactions commit meanwhile.
import type { ClientBase } from "pg";
import type { RelayCursor } from "./relayCheckpoint.ts";

/** The largest position a bigint holds: a cursor at (tx, this) lies after every row of transaction tx. */
const LAST_POSITION = "9223372036854775807";

/** The cut just below the horizon: (horizon - 1, the last position), so `<= cut` means `tx_id < horizon`. */
export async function snapshotHorizonCut(client: ClientBase): Promise<RelayCursor> {
  const result = await client.query<{ xmin: string }>(
    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin",
  );
  const xmin = BigInt((result.rows[0] as { xmin: string }).xmin);
  return { txId: String(xmin - 1n), position: LAST_POSITION };
}

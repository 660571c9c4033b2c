// How far the polling relay has delivered, read once per page of the history so that each event listed can
// say whether Kafka has it: the same rule as eventDelivery.ts, for many events at once.
import type pg from "pg";
import { type RelayMode, readRelayMode } from "../../../db/outbox/relayMode.ts";
import type { HistoryKey } from "./historyPage.ts";

export interface RelayProgress {
  mode: RelayMode;
  /** The polling relay's checkpoint: every row at or before it was acknowledged by Kafka. */
  checkpoint: HistoryKey | null;
}

export async function relayProgress(pool: pg.Pool): Promise<RelayProgress> {
  const client = await pool.connect();
  try {
    const { mode } = await readRelayMode(client);
    const result = await client.query<HistoryKey>(
      `SELECT tx_id::text AS "txId", position::text AS "position" FROM relay_checkpoints WHERE name = 'outbox'`,
    );
    return { mode, checkpoint: result.rows[0] ?? null };
  } finally {
    client.release();
  }
}

/** True: delivered; false: not yet; null: Debezium publishes it, and its progress does not tell. */
export function relayedBy(event: HistoryKey, progress: RelayProgress): boolean | null {
  const { checkpoint } = progress;
  const covered =
    checkpoint !== null &&
    (BigInt(event.txId) < BigInt(checkpoint.txId) ||
      (event.txId === checkpoint.txId && BigInt(event.position) <= BigInt(checkpoint.position)));
  return covered || progress.mode === "polling" ? covered : null;
}

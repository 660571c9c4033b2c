// Which relay publishes the outbox: one row that the switch (handover/switch.ts) writes and every relay reads
// before it publishes. No row (a database that never switched) means the polling relay. The table is created by
// a migration (db/schema.ts).
import type { ClientBase } from "pg";

export type RelayMode = "polling" | "debezium";

export interface RelayModeRow {
  mode: RelayMode;
  /** Where the last switch handed over, and whether it finished (see handover/switch.ts). */
  handover: Record<string, unknown> | null;
  changedAt: Date | null;
}

/** The current mode; `polling` when the database has never been switched. */
export async function readRelayMode(client: ClientBase): Promise<RelayModeRow> {
  const result = await client.query<RelayModeRow>(
    `SELECT mode, handover, changed_at AS "changedAt" FROM relay_mode WHERE singleton`,
  );
  return result.rows[0] ?? { mode: "polling", handover: null, changedAt: null };
}

export async function writeRelayMode(
  client: ClientBase,
  mode: RelayMode,
  handover: Record<string, unknown>,
): Promise<void> {
  await client.query(
    `INSERT INTO relay_mode (singleton, mode, handover, changed_at) VALUES (true, $1, $2, now())
     ON CONFLICT (singleton) DO UPDATE SET mode = EXCLUDED.mode, handover = EXCLUDED.handover, changed_at = now()`,
    [mode, JSON.stringify(handover)],
  );
}

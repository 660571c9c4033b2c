// Reads and advances a relay's cursor: everything at or before it has been acknowledged by Kafka.
import type { ClientBase } from "pg";

export interface RelayCursor {
  txId: string;
  position: string;
}

export const START_OF_HISTORY: RelayCursor = { txId: "0", position: "0" };

/** The relay's cursor; a relay that has not saved one yet starts at the start of the history. */
export async function loadRelayCheckpoint(client: ClientBase, name: string): Promise<RelayCursor> {
  const result = await client.query<RelayCursor>(
    `SELECT tx_id::text AS "txId", position::text AS "position" FROM relay_checkpoints WHERE name = $1`,
    [name],
  );
  return result.rows[0] ?? START_OF_HISTORY;
}

/** The names that have a saved checkpoint, in order. */
export async function checkpointNames(client: ClientBase): Promise<string[]> {
  const result = await client.query<{ name: string }>("SELECT name FROM relay_checkpoints ORDER BY name");
  return result.rows.map((row) => row.name);
}

export async function saveRelayCheckpoint(
  client: ClientBase,
  name: string,
  cursor: RelayCursor,
): Promise<void> {
  await client.query({
    name: "save_relay_checkpoint",
    text: `INSERT INTO relay_checkpoints (name, tx_id, position, updated_at) VALUES ($1, $2::xid8, $3, now())
           ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position,
                                            updated_at = EXCLUDED.updated_at`,
    values: [name, cursor.txId, cursor.position],
  });
}

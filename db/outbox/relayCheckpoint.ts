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

/** Saves a relay's cursor: `$name`, `$txId` and `$position` name the parameters that hold them. */
export function saveRelayCheckpointSql(name: string, txId: string, position: string): string {
  return `INSERT INTO relay_checkpoints (name, tx_id, position, updated_at)
          VALUES (${name}, ${txId}::xid8, ${position}::bigint, now())
          ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position,
                                           updated_at = EXCLUDED.updated_at`;
}

export async function saveRelayCheckpoint(
  client: ClientBase,
  name: string,
  cursor: RelayCursor,
): Promise<void> {
  await client.query({
    name: "save_relay_checkpoint",
    text: saveRelayCheckpointSql("$1", "$2", "$3"),
    values: [name, cursor.txId, cursor.position],
  });
}

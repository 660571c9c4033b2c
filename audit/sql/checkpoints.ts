// The stored checkpoints: all of them in order, or the latest.
import type pg from "pg";
import type { Checkpoint } from "../checkpoint.ts";

const checkpointColumns = `sequence::float8 AS "sequence", up_to_tx_id::text AS "upToTxId",
  up_to_position::text AS "upToPosition", row_count::float8 AS "rowCount", chain_hash AS "chainHash",
  key_id AS "keyId", signature, sealed_at AS "sealedAt"`;

export async function allCheckpoints(client: pg.ClientBase): Promise<Checkpoint[]> {
  const result = await client.query<Checkpoint>(
    `SELECT ${checkpointColumns} FROM outbox_checkpoints ORDER BY sequence`,
  );
  return result.rows;
}

export async function latestCheckpoint(client: pg.ClientBase): Promise<Checkpoint | null> {
  const result = await client.query<Checkpoint>(
    `SELECT ${checkpointColumns} FROM outbox_checkpoints ORDER BY sequence DESC LIMIT 1`,
  );
  return result.rows[0] ?? null;
}

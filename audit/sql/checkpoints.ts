// The stored checkpoints: all of them in order, the latest, and the ones that bound a verified range.
import type pg from "pg";
import { epochMicrosecondsSql, storedInstantText } from "../../db/storedInstant.ts";
import { type Instant, microsecondBound } from "../../events/instant.ts";
import type { Checkpoint } from "../checkpoint.ts";
import type { HistoryKey } from "./historyRows.ts";

/**
 * A sealed_at a Date holds (before 275760-09-13), as every sealer stamps. Any other was written by hand: its
 * microseconds are not read (`infinity` has none, and the query would fail), and its signature does not hold.
 */
const SEALED_AT_A_DATE_HOLDS = "isfinite(sealed_at) AND sealed_at < '275760-09-13 00:00:00+00'";

const checkpointColumns = `sequence::float8 AS "sequence", up_to_tx_id::text AS "upToTxId",
  up_to_position::text AS "upToPosition", row_count::float8 AS "rowCount", chain_hash AS "chainHash",
  key_id AS "keyId", signature, sealed_at AS "sealedAt",
  CASE WHEN ${SEALED_AT_A_DATE_HOLDS} THEN ${epochMicrosecondsSql("sealed_at")} END AS "sealedAtMicroseconds"`;

type CheckpointRow = Omit<Checkpoint, "sealedAtStored"> & { sealedAtMicroseconds: string | null };

function checkpointOf({ sealedAtMicroseconds, ...row }: CheckpointRow): Checkpoint {
  return {
    ...row,
    sealedAtStored: (sealedAtMicroseconds === null ? null : storedInstantText(sealedAtMicroseconds)) ?? "",
  };
}

function firstCheckpoint(rows: readonly CheckpointRow[]): Checkpoint | null {
  const [first] = rows;
  return first ? checkpointOf(first) : null;
}

export async function allCheckpoints(client: pg.ClientBase): Promise<Checkpoint[]> {
  const result = await client.query<CheckpointRow>(
    `SELECT ${checkpointColumns} FROM outbox_checkpoints ORDER BY sequence`,
  );
  return result.rows.map(checkpointOf);
}

export async function latestCheckpoint(client: pg.ClientBase): Promise<Checkpoint | null> {
  const result = await client.query<CheckpointRow>(
    `SELECT ${checkpointColumns} FROM outbox_checkpoints ORDER BY sequence DESC LIMIT 1`,
  );
  return firstCheckpoint(result.rows);
}

/** The sequence of the first checkpoint the key signed; null when it signed none. */
export async function firstSignedBy(client: pg.ClientBase, keyId: string): Promise<number | null> {
  const result = await client.query<{ sequence: number | null }>(
    `SELECT min(sequence)::float8 AS "sequence" FROM outbox_checkpoints WHERE key_id = $1`,
    [keyId],
  );
  return result.rows[0]?.sequence ?? null;
}

export async function checkpointBySequence(
  client: pg.ClientBase,
  sequence: number,
): Promise<Checkpoint | null> {
  const result = await client.query<CheckpointRow>(
    `SELECT ${checkpointColumns} FROM outbox_checkpoints WHERE sequence = $1`,
    [sequence],
  );
  return firstCheckpoint(result.rows);
}

/** The checkpoints after the given one whose cursor lies at or before `through` (null: all of them), in order. */
export async function checkpointsAfter(
  client: pg.ClientBase,
  afterSequence: number,
  through: HistoryKey | null,
): Promise<Checkpoint[]> {
  const end = through ? "AND (up_to_tx_id, up_to_position) <= ($2::xid8, $3::bigint)" : "";
  const result = await client.query<CheckpointRow>(
    `SELECT ${checkpointColumns} FROM outbox_checkpoints WHERE sequence > $1 ${end} ORDER BY sequence`,
    through ? [afterSequence, through.txId, through.position] : [afterSequence],
  );
  return result.rows.map(checkpointOf);
}

/** The last checkpoint, from `minSequence` on, whose cursor lies before the given row: all it seals precede it. */
export async function lastCheckpointBefore(
  client: pg.ClientBase,
  row: HistoryKey,
  minSequence: number,
): Promise<Checkpoint | null> {
  const result = await client.query<CheckpointRow>(
    `SELECT ${checkpointColumns} FROM outbox_checkpoints
      WHERE sequence >= $1 AND (up_to_tx_id, up_to_position) < ($2::xid8, $3::bigint)
      ORDER BY sequence DESC LIMIT 1`,
    [minSequence, row.txId, row.position],
  );
  return firstCheckpoint(result.rows);
}

/**
 * The last checkpoint, from `minSequence` on, sealed at or before the time. sealed_at holds microseconds (a
 * Date's milliseconds, as sealed): compared with the time rounded down to one, as the time itself would be.
 */
export async function lastCheckpointSealedBy(
  client: pg.ClientBase,
  time: Instant,
  minSequence: number,
): Promise<Checkpoint | null> {
  const result = await client.query<CheckpointRow>(
    `SELECT ${checkpointColumns} FROM outbox_checkpoints WHERE sequence >= $1 AND sealed_at <= $2::timestamptz
      ORDER BY sequence DESC LIMIT 1`,
    [minSequence, microsecondBound(time, "down")],
  );
  return firstCheckpoint(result.rows);
}

/** The first checkpoint sealed at or after the time (rounded up to a microsecond, as lastCheckpointSealedBy says). */
export async function firstCheckpointSealedFrom(
  client: pg.ClientBase,
  time: Instant,
): Promise<Checkpoint | null> {
  const result = await client.query<CheckpointRow>(
    `SELECT ${checkpointColumns} FROM outbox_checkpoints WHERE sealed_at >= $1::timestamptz ORDER BY sequence LIMIT 1`,
    [microsecondBound(time, "up")],
  );
  return firstCheckpoint(result.rows);
}

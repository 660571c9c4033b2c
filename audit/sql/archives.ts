// The archives of the history: reading and recording them, their chain heads, and the rows archiving moves.
import type pg from "pg";
import type { ArchivedDigest, ArchivedHead, ArchiveRecord } from "../archive.ts";
import { type HistoryKey, type HistoryRow, rowColumns } from "./historyRows.ts";

const archiveColumns = `sequence::float8 AS "sequence", checkpoint_sequence::float8 AS "checkpointSequence",
  after_checkpoint_sequence::float8 AS "afterCheckpointSequence", up_to_tx_id::text AS "upToTxId",
  up_to_position::text AS "upToPosition", row_count::float8 AS "rowCount", head_count::float8 AS "headCount",
  heads_hash AS "headsHash", digests_hash AS "digestsHash", file_name AS "fileName", file_sha256 AS "fileSha256",
  created_before AS "createdBefore", key_id AS "keyId", signature, archived_at AS "archivedAt"`;

/** An archive as the database holds it: the signed record, and whether it says it kept its events' digests. */
export type StoredArchive = ArchiveRecord & { digestsKept: boolean };

export async function allArchives(client: pg.ClientBase): Promise<StoredArchive[]> {
  const result = await client.query<StoredArchive>(
    `SELECT ${archiveColumns}, digests_kept AS "digestsKept" FROM outbox_archives ORDER BY sequence`,
  );
  return result.rows;
}

/** An archive's heads after the given position, in position order. */
export async function archiveHeadsBatch(
  client: pg.ClientBase,
  archiveSequence: number,
  afterPosition: string,
  limit: number,
): Promise<ArchivedHead[]> {
  const result = await client.query<ArchivedHead>(
    `SELECT position::text AS "position", aggregate_type AS "aggregateType", aggregate_id AS "aggregateId",
            version::float8 AS "version", hash
       FROM outbox_archive_heads WHERE archive_sequence = $1 AND position > $2::bigint
      ORDER BY outbox_archive_heads.archive_sequence, outbox_archive_heads.position LIMIT $3`,
    [archiveSequence, afterPosition, limit],
  );
  return result.rows;
}

/** The first row after the cursor created at or after the cutoff: the youngest history archiving must keep. */
export async function firstRowCreatedSince(
  client: pg.ClientBase,
  after: HistoryKey,
  cutoff: Date,
): Promise<HistoryKey | null> {
  const result = await client.query<HistoryKey>(
    `SELECT tx_id::text AS "txId", position::text AS "position" FROM outbox
      WHERE (tx_id, position) > ($1::xid8, $2::bigint) AND created_at >= $3
      ORDER BY outbox.tx_id, outbox.position LIMIT 1`,
    [after.txId, after.position, cutoff],
  );
  return result.rows[0] ?? null;
}

/**
 * Relays that have not delivered every row up to the given cursor: those whose acknowledged cursor lies before
 * it, and the polling relay while it publishes and has acknowledged nothing yet (no checkpoint row: it would start
 * from the beginning, after whatever an archive deleted). Debezium reads the deleted rows' inserts from the WAL.
 */
export async function relaysBehind(client: pg.ClientBase, cursor: HistoryKey): Promise<string[]> {
  const result = await client.query<{ name: string }>(
    `SELECT name FROM relay_checkpoints WHERE (tx_id, position) < ($1::xid8, $2::bigint)
     UNION
     SELECT 'outbox' WHERE coalesce((SELECT mode FROM relay_mode WHERE singleton), 'polling') = 'polling'
                       AND NOT EXISTS (SELECT FROM relay_checkpoints WHERE name = 'outbox')
     ORDER BY name`,
    [cursor.txId, cursor.position],
  );
  return result.rows.map((row) => row.name);
}

/** Rows after `after` and at or before `through`, in history order, with the patient column archives keep too. */
export async function rowsToArchive(
  client: pg.ClientBase,
  after: HistoryKey,
  through: HistoryKey,
  limit: number,
): Promise<Array<HistoryRow & { patientId: string | null }>> {
  const result = await client.query<HistoryRow & { patientId: string | null }>(
    `SELECT ${rowColumns("outbox")}, outbox.patient_id::text AS "patientId" FROM outbox
      WHERE (tx_id, position) > ($1::xid8, $2::bigint) AND (tx_id, position) <= ($3::xid8, $4::bigint)
      ORDER BY outbox.tx_id, outbox.position LIMIT $5`,
    [after.txId, after.position, through.txId, through.position, limit],
  );
  return result.rows;
}

/** Records each archived aggregate's last event (its highest archived version) as the archive's heads. */
export async function recordArchiveHeads(
  client: pg.ClientBase,
  archiveSequence: number,
  after: HistoryKey,
  through: HistoryKey,
): Promise<void> {
  await client.query(
    `INSERT INTO outbox_archive_heads (archive_sequence, position, aggregate_type, aggregate_id, version, hash)
     SELECT DISTINCT ON (aggregate_type, aggregate_id) $1::bigint, position, aggregate_type, aggregate_id,
            aggregate_version, hash
       FROM outbox
      WHERE aggregate_version IS NOT NULL
        AND (tx_id, position) > ($2::xid8, $3::bigint) AND (tx_id, position) <= ($4::xid8, $5::bigint)
      ORDER BY aggregate_type, aggregate_id, aggregate_version DESC`,
    [archiveSequence, after.txId, after.position, through.txId, through.position],
  );
}

export async function recordArchive(client: pg.ClientBase, record: ArchiveRecord): Promise<void> {
  await client.query(
    `INSERT INTO outbox_archives (sequence, checkpoint_sequence, after_checkpoint_sequence, up_to_tx_id,
       up_to_position, row_count, head_count, heads_hash, digests_hash, file_name, file_sha256, created_before,
       key_id, signature, archived_at)
     VALUES ($1, $2, $3, $4::xid8, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
    [
      record.sequence,
      record.checkpointSequence,
      record.afterCheckpointSequence,
      record.upToTxId,
      record.upToPosition,
      record.rowCount,
      record.headCount,
      record.headsHash,
      record.digestsHash,
      record.fileName,
      record.fileSha256,
      record.createdBefore,
      record.keyId,
      record.signature,
      record.archivedAt,
    ],
  );
}

/**
 * An archived row's payload digest as consumers digest a held row's (consumers/runtime/inbox.ts), and as the
 * digests' trigger checks it: the SHA-256 of the payload's text as stored, in UTF-8. One expression for the digests
 * archiving hashes and the ones it keeps.
 */
const PAYLOAD_DIGEST = "sha256(convert_to(outbox.payload::text, 'UTF8'))";

/**
 * The archived rows' digests in event id order. The range is read first, down the history's index, and sorted: a
 * cursor, planned to return its first rows fast, would otherwise walk the outbox's whole event_id index for the
 * rows of the range (digestsToKeep.explain.int.test.ts).
 */
export const digestsToKeepSql = `
  WITH archived AS MATERIALIZED (
    SELECT outbox.event_id, ${PAYLOAD_DIGEST} AS digest FROM outbox
     WHERE (tx_id, position) > ($1::xid8, $2::bigint) AND (tx_id, position) <= ($3::xid8, $4::bigint))
  SELECT event_id::text AS "eventId", digest AS "payloadSha256" FROM archived ORDER BY event_id`;

/**
 * The digests archiving is about to keep for the rows after `after` and at or before `through`, in event id
 * order, a batch at a time: read through a cursor, so the rows are sorted once (their event ids follow no index
 * of the range). The archive signs their hash before it can keep them (recordArchivedDigests). Within the
 * transaction that archives them.
 */
export async function* digestsToKeep(
  client: pg.ClientBase,
  after: HistoryKey,
  through: HistoryKey,
  batch: number,
): AsyncGenerator<ArchivedDigest[]> {
  await client.query(`DECLARE digests_to_keep NO SCROLL CURSOR FOR ${digestsToKeepSql}`, [
    after.txId,
    after.position,
    through.txId,
    through.position,
  ]);
  // Closed once read to the end; a failure before rolls the archiving transaction back, which closes it.
  for (;;) {
    const result = await client.query<ArchivedDigest>(`FETCH ${Math.trunc(batch)} FROM digests_to_keep`);
    if (result.rows.length > 0) yield result.rows;
    if (result.rows.length < batch) break;
  }
  await client.query("CLOSE digests_to_keep");
}

/**
 * Keeps each archived row's event id and payload digest (outbox_archived_digests) with the archive that keeps
 * them, which consumers check a record of an archived event against. Its trigger takes only rows at or before the
 * cut of that archive, recorded by this transaction, and the outbox deletes none whose digest is not kept.
 * Returns how many were kept.
 */
export async function recordArchivedDigests(
  client: pg.ClientBase,
  archiveSequence: number,
  after: HistoryKey,
  through: HistoryKey,
): Promise<number> {
  const result = await client.query(
    `INSERT INTO outbox_archived_digests (event_id, payload_sha256, archive_sequence)
     SELECT outbox.event_id, ${PAYLOAD_DIGEST}, $5::bigint FROM outbox
      WHERE (tx_id, position) > ($1::xid8, $2::bigint) AND (tx_id, position) <= ($3::xid8, $4::bigint)`,
    [after.txId, after.position, through.txId, through.position, archiveSequence],
  );
  return result.rowCount ?? 0;
}

/**
 * An archive's kept digests after the given event id (null: from its first), in event id order: as its digests'
 * hash was made.
 */
export async function archiveDigestsBatch(
  client: pg.ClientBase,
  archiveSequence: number,
  afterEventId: string | null,
  limit: number,
): Promise<ArchivedDigest[]> {
  const result = await client.query<ArchivedDigest>(
    `SELECT event_id::text AS "eventId", payload_sha256 AS "payloadSha256"
       FROM outbox_archived_digests
      WHERE archive_sequence = $1 ${afterEventId === null ? "" : "AND event_id > $3::uuid"}
      ORDER BY outbox_archived_digests.archive_sequence, outbox_archived_digests.event_id LIMIT $2`,
    afterEventId === null ? [archiveSequence, limit] : [archiveSequence, limit, afterEventId],
  );
  return result.rows;
}

/**
 * How many digests are kept in all, and how many of them belong to no archive: those kept before archives signed
 * their digests' hash (migration 0031). One scan.
 */
export async function archivedDigestCounts(
  client: pg.ClientBase,
): Promise<{ kept: number; withoutArchive: number }> {
  const result = await client.query<{ kept: number; withoutArchive: number }>(
    `SELECT count(*)::float8 AS kept, (count(*) FILTER (WHERE archive_sequence IS NULL))::float8 AS "withoutArchive"
       FROM outbox_archived_digests`,
  );
  return result.rows[0] ?? { kept: 0, withoutArchive: 0 };
}

/**
 * Deletes the archived rows: the outbox's trigger lets through only rows at or before the cut of an archive
 * this transaction has recorded, whose digests it has kept. Returns how many went.
 */
export async function deleteArchivedRows(
  client: pg.ClientBase,
  after: HistoryKey,
  through: HistoryKey,
): Promise<number> {
  const result = await client.query(
    `DELETE FROM outbox
      WHERE (tx_id, position) > ($1::xid8, $2::bigint) AND (tx_id, position) <= ($3::xid8, $4::bigint)`,
    [after.txId, after.position, through.txId, through.position],
  );
  return result.rowCount ?? 0;
}

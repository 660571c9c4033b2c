// Reads the history a batch at a time (constant memory) in (tx_id, position) order, the order checkpoints hash
// in, and finds chained rows' previous versions, wherever those now are (the outbox or an archive's heads).
// ORDER BY names the table's columns, not the SELECT list's text renderings of them.
import type pg from "pg";
import type { HashedEventFields } from "../../db/outbox/eventHash.ts";

export interface HistoryRow extends HashedEventFields {
  txId: string;
  position: string;
  previousHash: Buffer | null;
  hash: Buffer;
  /**
   * Whether created_at holds a time finer than the millisecond the hash covers (`createdAt`, a Date, cannot
   * show it). The write path stamps every row with a Date, so such a time was changed after the row was written.
   * Absent for rows read from an archive file, whose times are written to the millisecond.
   */
  createdAtFinerThanHashed?: boolean;
}

/**
 * A row as the verification reads it: with the patient whose history it is filed in (`patient_id`, which the
 * auditors' per-patient queries select by, and which no hash covers) and the patient its envelope names (the
 * data's `patientId`, covered by the hash), so that the one can be checked against the other.
 */
export interface AttributedRow extends HistoryRow {
  patientId: string | null;
  /** The envelope's `data.patientId`, as text (null when it names none). */
  namedPatientId: string | null;
}

/** A place in the history order. */
export interface HistoryKey {
  txId: string;
  position: string;
}

/** Where an aggregate's previous version is: its stored row, or the head an archive recorded when it left. */
export interface PreviousVersion {
  /** The stored row, when the outbox holds it. */
  row: (HistoryKey & { hash: Buffer }) | null;
  /** Else the hash an archive recorded for it (outbox_archive_heads). */
  archivedHash: Buffer | null;
}
/** The columns of a HistoryRow, read from the outbox under the given name. */
export function rowColumns(table: string): string {
  return `${table}.tx_id::text AS "txId", ${table}.position::text AS "position", ${table}.event_id::text AS "eventId",
  ${table}.event_type AS "eventType", ${table}.aggregate_type AS "aggregateType", ${table}.aggregate_id AS "aggregateId",
  ${table}.aggregate_version::int8::float8 AS "aggregateVersion", ${table}.topic, ${table}.message_key AS "messageKey",
  ${table}.payload::text AS "payload", ${table}.correlation_id::text AS "correlationId", ${table}.traceparent,
  ${table}.tracestate, ${table}.created_at AS "createdAt", ${table}.previous_hash AS "previousHash", ${table}.hash,
  ${table}.created_at <> date_trunc('milliseconds', ${table}.created_at) AS "createdAtFinerThanHashed"`;
}

/**
 * Rows after the cursor in history order, up to `through` when given (included); `belowHorizon` keeps to rows no
 * open transaction can precede.
 */
export async function historyBatch(
  client: pg.ClientBase,
  after: HistoryKey,
  limit: number,
  options: { belowHorizon?: boolean; through?: HistoryKey | null } = {},
): Promise<AttributedRow[]> {
  const horizon = options.belowHorizon ? "AND tx_id < pg_snapshot_xmin(pg_current_snapshot())" : "";
  const end = options.through ? "AND (tx_id, position) <= ($4::xid8, $5::bigint)" : "";
  const result = await client.query<AttributedRow>(
    `SELECT ${rowColumns("outbox")}, outbox.patient_id::text AS "patientId",
            outbox.payload -> 'data' ->> 'patientId' AS "namedPatientId" FROM outbox WHERE (tx_id, position) > ($1::xid8, $2::bigint) ${horizon} ${end}
      ORDER BY outbox.tx_id, outbox.position LIMIT $3`,
    options.through
      ? [after.txId, after.position, limit, options.through.txId, options.through.position]
      : [after.txId, after.position, limit],
  );
  return result.rows;
}

/** The previous version of each given chained row (version > 1), in the same order: one statement for all. */
export async function previousVersions(
  client: pg.ClientBase,
  rows: readonly HistoryRow[],
): Promise<PreviousVersion[]> {
  const result = await client.query<{
    txId: string | null;
    position: string | null;
    hash: Buffer | null;
    archivedHash: Buffer | null;
  }>(
    `SELECT p.tx_id::text AS "txId", p.position::text AS "position", p.hash, h.hash AS "archivedHash"
       FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS wanted(aggregate_type, aggregate_id, version, n)
       LEFT JOIN outbox p ON p.aggregate_type = wanted.aggregate_type AND p.aggregate_id = wanted.aggregate_id
                         AND p.aggregate_version = wanted.version
       LEFT JOIN outbox_archive_heads h ON p.position IS NULL AND h.aggregate_type = wanted.aggregate_type
                                       AND h.aggregate_id = wanted.aggregate_id AND h.version = wanted.version
      ORDER BY wanted.n`,
    [
      rows.map((row) => row.aggregateType),
      rows.map((row) => row.aggregateId),
      rows.map((row) => (row.aggregateVersion ?? 0) - 1),
    ],
  );
  return result.rows.map(({ txId, position, hash, archivedHash }) => ({
    row: txId !== null && position !== null && hash !== null ? { txId, position, hash } : null,
    archivedHash,
  }));
}

/**
 * The first row, in history order, filed under a patient. Rows written before migration 0007 added `patient_id`
 * were filed under none, whatever their envelope names; every row written since is filed under the patient it
 * names, so a row after this one that names a patient and is filed under none was taken out of their history.
 */
export async function firstAttributedRow(client: pg.ClientBase): Promise<HistoryKey | null> {
  const result = await client.query<HistoryKey>(
    `SELECT tx_id::text AS "txId", position::text AS "position" FROM outbox WHERE patient_id IS NOT NULL
      ORDER BY outbox.tx_id, outbox.position LIMIT 1`,
  );
  return result.rows[0] ?? null;
}

/** Where the row at this position sits in the history order; null when the outbox has no such row. */
export async function historyKeyOf(client: pg.ClientBase, position: string): Promise<HistoryKey | null> {
  const result = await client.query<HistoryKey>(
    `SELECT tx_id::text AS "txId", position::text AS "position" FROM outbox WHERE position = $1::bigint`,
    [position],
  );
  return result.rows[0] ?? null;
}

/** The first row at or before the cursor, in history order: after archiving up to it there must be none. */
export async function firstRowThrough(
  client: pg.ClientBase,
  through: HistoryKey,
): Promise<HistoryRow | null> {
  const result = await client.query<HistoryRow>(
    `SELECT ${rowColumns("outbox")} FROM outbox WHERE (tx_id, position) <= ($1::xid8, $2::bigint)
      ORDER BY outbox.tx_id, outbox.position LIMIT 1`,
    [through.txId, through.position],
  );
  return result.rows[0] ?? null;
}

/** An aggregate whose recorded head is not its last event (stored or, all of them archived, recorded by an archive). */
export interface HeadMismatch {
  aggregateType: string;
  aggregateId: string;
  /** The version its head records. */
  version: number;
  /** The version of its last event; null: none is left. */
  storedVersion: number | null;
  /** Whether the head's hash is that event's. */
  hashMatches: boolean;
}

/**
 * Aggregates whose recorded head (version, last hash) is not their last event: a cut-off chain, or a head
 * changed. The last event is the last stored one, or, when all of them were archived, the last one an archive
 * recorded.
 */
export async function aggregatesWithMissingHead(
  client: pg.ClientBase,
  limit: number,
): Promise<Array<HeadMismatch>> {
  const result = await client.query(
    `SELECT av.aggregate_type AS "aggregateType", av.aggregate_id AS "aggregateId", av.version::float8 AS "version",
            coalesce(head.aggregate_version, archived.version)::float8 AS "storedVersion",
            coalesce(head.hash, archived.hash) IS NOT DISTINCT FROM av.last_hash AS "hashMatches"
       FROM aggregate_versions av
       LEFT JOIN LATERAL (SELECT o.aggregate_version, o.hash FROM outbox o
                           WHERE o.aggregate_type = av.aggregate_type AND o.aggregate_id = av.aggregate_id
                             AND o.aggregate_version IS NOT NULL
                           ORDER BY o.aggregate_version DESC LIMIT 1) head ON true
       LEFT JOIN LATERAL (SELECT h.version, h.hash FROM outbox_archive_heads h
                           WHERE head.hash IS NULL
                             AND h.aggregate_type = av.aggregate_type AND h.aggregate_id = av.aggregate_id
                           ORDER BY h.version DESC LIMIT 1) archived ON true
      WHERE av.last_hash <> '\\x'::bytea
        AND (coalesce(head.hash, archived.hash) IS DISTINCT FROM av.last_hash
             OR coalesce(head.aggregate_version, archived.version) IS DISTINCT FROM av.version)
      ORDER BY av.aggregate_type, av.aggregate_id
      LIMIT $1`,
    [limit],
  );
  return result.rows;
}

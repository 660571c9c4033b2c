// Reads the history in the two orders verification needs, a batch at a time (constant memory):
// (tx_id, position), the order checkpoints hash in, and (aggregate, version), the order of each chain.
// ORDER BY names the table's columns, not the SELECT list's text renderings of them.
import type pg from "pg";
import type { HashedEventFields } from "../../db/outbox/eventHash.ts";

export interface HistoryRow extends HashedEventFields {
  txId: string;
  position: string;
  previousHash: Buffer | null;
  hash: Buffer;
}

const rowColumns = `tx_id::text AS "txId", position::text AS "position", event_id::text AS "eventId",
  event_type AS "eventType", aggregate_type AS "aggregateType", aggregate_id AS "aggregateId",
  aggregate_version::int8::float8 AS "aggregateVersion", topic, message_key AS "messageKey",
  payload::text AS "payload", correlation_id::text AS "correlationId", traceparent, created_at AS "createdAt",
  previous_hash AS "previousHash", hash`;

/** Rows after the cursor in history order; `belowHorizon` keeps to rows no open transaction can precede. */
export async function historyBatch(
  client: pg.ClientBase,
  after: { txId: string; position: string },
  limit: number,
  options: { belowHorizon?: boolean } = {},
): Promise<HistoryRow[]> {
  const horizon = options.belowHorizon ? "AND tx_id < pg_snapshot_xmin(pg_current_snapshot())" : "";
  const result = await client.query<HistoryRow>(
    `SELECT ${rowColumns} FROM outbox WHERE (tx_id, position) > ($1::xid8, $2::bigint) ${horizon}
      ORDER BY outbox.tx_id, outbox.position LIMIT $3`,
    [after.txId, after.position, limit],
  );
  return result.rows;
}

/** Chained rows (those with a version) after the given one, in (aggregate_type, aggregate_id, version) order. */
export async function chainBatch(
  client: pg.ClientBase,
  after: { aggregateType: string; aggregateId: string; aggregateVersion: number },
  limit: number,
): Promise<HistoryRow[]> {
  const result = await client.query<HistoryRow>(
    `SELECT ${rowColumns} FROM outbox
      WHERE aggregate_version IS NOT NULL AND (aggregate_type, aggregate_id, aggregate_version) > ($1, $2, $3)
      ORDER BY outbox.aggregate_type, outbox.aggregate_id, outbox.aggregate_version LIMIT $4`,
    [after.aggregateType, after.aggregateId, after.aggregateVersion, limit],
  );
  return result.rows;
}

/** Aggregates whose recorded head (version, last hash) is not their last stored event: a cut-off chain. */
export async function aggregatesWithMissingHead(
  client: pg.ClientBase,
  limit: number,
): Promise<
  Array<{ aggregateType: string; aggregateId: string; version: number; storedVersion: number | null }>
> {
  const result = await client.query(
    `SELECT av.aggregate_type AS "aggregateType", av.aggregate_id AS "aggregateId", av.version::float8 AS "version",
            head.aggregate_version::float8 AS "storedVersion"
       FROM aggregate_versions av
       LEFT JOIN LATERAL (SELECT o.aggregate_version, o.hash FROM outbox o
                           WHERE o.aggregate_type = av.aggregate_type AND o.aggregate_id = av.aggregate_id
                             AND o.aggregate_version IS NOT NULL
                           ORDER BY o.aggregate_version DESC LIMIT 1) head ON true
      WHERE av.last_hash <> '\\x'::bytea
        AND (head.hash IS DISTINCT FROM av.last_hash OR head.aggregate_version IS DISTINCT FROM av.version)
      ORDER BY av.aggregate_type, av.aggregate_id
      LIMIT $1`,
    [limit],
  );
  return result.rows;
}

// The statement that writes a transaction's events: the outbox rows, and, in the same round trip, each touched
// aggregate's new head (its version and the hash the next event chains to) and the data keys the transaction
// made for patients who had none (db/patientKeys.ts), which the rows' personal fields are sealed under. A named (prepared) statement: one text whatever the
// number of rows (arrays, not a VALUES list), parsed once per connection.
import type pg from "pg";
import { DataFreeError } from "../../events/dataFreeError.ts";
import type { KeyCandidate } from "../readOrMakeKeys.ts";
import type { HashedEventFields } from "./eventHash.ts";
import { noteOutboxRowsWritten } from "./relayWakeup.ts";

export interface OutboxRow {
  fields: HashedEventFields;
  patientId: string | null;
  previousHash: Buffer | null;
  hash: Buffer;
}

export interface NewAggregateHead {
  aggregateType: string;
  aggregateId: string;
  /** The aggregate's version as this transaction found it: the row is written only if it still holds it (0: no row). */
  expectedVersion: number;
  /** Its version after this transaction's events: its last event's. */
  version: number;
  hash: Buffer;
}

// The heads are written in data-modifying CTEs, which run whether or not the INSERT reads them: an aggregate's row
// is updated only while it holds the version the transaction found (a row bumped by bumpAggregateVersions holds
// the bumped one), and a new aggregate's is inserted only if none exists. At REPEATABLE READ a row that another
// transaction changed after this one's snapshot fails the statement with a serialization failure instead; a
// head that does not match what this transaction itself read (it cannot, but a mistake must not chain an event
// to the wrong hash) leaves the outbox untouched and is reported. The rows go in the order given (WITH
// ORDINALITY), so one aggregate's events take positions in version order.
//
// "restored" is the guard against a history restored from another server (see RestoredHistoryAhead): a row or
// a sealed checkpoint whose transaction id this server has not reached yet. No transaction of this server can
// have written such a row: a row it can see was committed before its snapshot, so its id lies below the
// snapshot's xmax, and this transaction's own rows carry its own id. Each probe is one step down an index, and
// the outbox's reads only entries above this transaction's id: rows of transactions begun after it, not the
// rows of an older one still inserting (a bulk load's would be many). Written as a scalar subquery with ORDER
// BY and LIMIT 1: as an EXISTS (which drops the ORDER BY) it is planned as a Seq Scan, the planner taking a
// third of the rows to match and expecting to stop at the first (insertOutboxRows.explain.int.test.ts).
export const insertOutboxRowsSql = `
WITH restored AS (
  SELECT (SELECT tx_id FROM outbox
           WHERE tx_id > pg_current_xact_id() AND tx_id >= pg_snapshot_xmax(pg_current_snapshot())
           ORDER BY tx_id LIMIT 1) IS NOT NULL
      OR coalesce((SELECT up_to_tx_id >= pg_snapshot_xmax(pg_current_snapshot())
                     FROM outbox_checkpoints ORDER BY sequence DESC LIMIT 1), false) AS ahead
), head AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $19::bigint[], $20::bigint[])
                AS head(aggregate_type, aggregate_id, hash, expected_version, version)
), updated AS (
  UPDATE aggregate_versions SET version = head.version, last_hash = head.hash
    FROM head
   WHERE head.expected_version > 0
     AND aggregate_versions.aggregate_type = head.aggregate_type
     AND aggregate_versions.aggregate_id = head.aggregate_id
     AND aggregate_versions.version = head.expected_version
  RETURNING 1
), created AS (
  INSERT INTO aggregate_versions (aggregate_type, aggregate_id, version, last_hash)
  SELECT head.aggregate_type, head.aggregate_id, head.version, head.hash FROM head WHERE head.expected_version = 0
  ON CONFLICT (aggregate_type, aggregate_id) DO NOTHING
  RETURNING 1
), heads AS (
  SELECT (SELECT count(*) FROM updated) + (SELECT count(*) FROM created) = cardinality($1::text[]) AS written
), keys_made AS (
  INSERT INTO patient_keys (patient_id, master_key_id, wrapped_key)
  SELECT * FROM unnest($21::uuid[], $22::text[], $23::bytea[])
  ON CONFLICT (patient_id) DO NOTHING
  RETURNING 1
), inserted AS (
  INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic, message_key,
                      payload, correlation_id, traceparent, tracestate, created_at, previous_hash, hash, patient_id)
  SELECT e.event_id, e.event_type, e.aggregate_type, e.aggregate_id, e.aggregate_version, e.topic, e.message_key,
         e.payload::json, e.correlation_id, e.traceparent, e.tracestate, $15::timestamptz, e.previous_hash, e.hash,
         e.patient_id
    FROM unnest($4::uuid[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[],
                $12::uuid[], $13::text[], $14::bytea[], $16::bytea[], $17::uuid[], $18::text[])
         WITH ORDINALITY AS e(event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                              message_key, payload, correlation_id, traceparent, previous_hash, hash, patient_id,
                              tracestate, n)
   WHERE NOT (SELECT ahead FROM restored) AND (SELECT written FROM heads)
   ORDER BY e.n
  RETURNING 1
)
SELECT (SELECT ahead FROM restored) AS ahead, (SELECT written FROM heads) AS heads_written,
       (SELECT count(*) FROM inserted)::int AS inserted, (SELECT count(*) FROM keys_made)::int AS keys_made,
       pg_current_xact_id()::text AS tx_id`;

/**
 * An aggregate's head was not the one this transaction chained its events to. REPEATABLE READ makes another
 * transaction's change a serialization failure (retried), so this is a mistake in the write path itself:
 * nothing is written rather than an event chained to the wrong hash or given a taken version.
 */
export class AggregateHeadChanged extends DataFreeError {
  override name = "AggregateHeadChanged";
  constructor(heads: readonly NewAggregateHead[]) {
    const named = heads.map((head) => `${head.aggregateType} ${head.aggregateId}`).join(", ");
    super(`the head of ${named} is not the one the events were chained to; no event was written`);
  }
}

/**
 * The outbox holds a history restored from another server whose transaction ids this server has not reached
 * (a logical dump and restore, a move by logical replication). An event written now would take a smaller
 * transaction id than the restored events before it: the history's order, which audit:verify checks and the
 * sealed checkpoints fix, would put it first. Nothing is written until `npm run relay:rebase` has moved the
 * server's transaction ids past the restored history.
 */
export class RestoredHistoryAhead extends Error {
  override name = "RestoredHistoryAhead";
  constructor() {
    super(
      "the outbox holds a restored history ahead of this server's transaction ids; no event is written until `npm run relay:rebase` has re-anchored it",
    );
  }
}

/**
 * Every row shares `createdAt`: one transaction's events are stamped with one time. `keys` are inserted in the
 * same statement; one that exists already (a concurrent writer's, committed after this transaction's snapshot,
 * is a serialization failure under REPEATABLE READ) throws, and the transaction must not commit. Throws
 * RestoredHistoryAhead, having written nothing, while a restored history lies ahead of the server, and
 * AggregateHeadChanged if a head is not the one given.
 */
export async function insertOutboxRows(
  client: pg.ClientBase,
  rows: readonly OutboxRow[],
  heads: readonly NewAggregateHead[],
  createdAt: Date,
  keys: readonly KeyCandidate[] = [],
): Promise<void> {
  const column = <V>(pick: (row: OutboxRow) => V) => rows.map(pick);
  const { rows: outcome } = await client.query<{
    ahead: boolean;
    heads_written: boolean;
    inserted: number;
    keys_made: number;
    tx_id: string;
  }>({
    name: "outbox.insert-rows.v6",
    text: insertOutboxRowsSql,
    values: [
      heads.map((head) => head.aggregateType),
      heads.map((head) => head.aggregateId),
      heads.map((head) => head.hash),
      column((row) => row.fields.eventId),
      column((row) => row.fields.eventType),
      column((row) => row.fields.aggregateType),
      column((row) => row.fields.aggregateId),
      column((row) => row.fields.aggregateVersion),
      column((row) => row.fields.topic),
      column((row) => row.fields.messageKey),
      column((row) => row.fields.payload),
      column((row) => row.fields.correlationId),
      column((row) => row.fields.traceparent),
      column((row) => row.previousHash),
      createdAt,
      column((row) => row.hash),
      column((row) => row.patientId),
      column((row) => row.fields.tracestate),
      heads.map((head) => head.expectedVersion),
      heads.map((head) => head.version),
      keys.map((key) => key.patientId),
      keys.map((key) => key.masterKeyId),
      keys.map((key) => key.wrappedKey),
    ],
  });
  const [{ ahead, heads_written, inserted, keys_made, tx_id }] = outcome as [(typeof outcome)[number]];
  if (ahead) throw new RestoredHistoryAhead();
  if (!heads_written) throw new AggregateHeadChanged(heads);
  if (inserted !== rows.length) throw new Error(`${inserted} of ${rows.length} outbox rows were inserted`);
  if (keys_made !== keys.length) {
    throw new Error(`${keys_made} of ${keys.length} patient keys were inserted: a key existed already`);
  }
  noteOutboxRowsWritten(client, tx_id);
}

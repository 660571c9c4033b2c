// The statement that writes a transaction's events: the outbox rows, and, in the same round trip, each touched
// aggregate's new head hash (what the next event chains to). A named (prepared) statement: one text whatever the
// number of rows (arrays, not a VALUES list), parsed once per connection.
import type pg from "pg";
import type { HashedEventFields } from "./eventHash.ts";

export interface OutboxRow {
  fields: HashedEventFields;
  patientId: string | null;
  previousHash: Buffer | null;
  hash: Buffer;
}

export interface NewAggregateHead {
  aggregateType: string;
  aggregateId: string;
  hash: Buffer;
}

// The head UPDATE is a data-modifying CTE: it runs whether or not the INSERT reads it. The rows go in the
// order given (WITH ORDINALITY), so one aggregate's events take positions in version order.
const text = `
WITH heads AS (
  UPDATE aggregate_versions SET last_hash = head.hash
    FROM unnest($1::text[], $2::text[], $3::bytea[]) AS head(aggregate_type, aggregate_id, hash)
   WHERE aggregate_versions.aggregate_type = head.aggregate_type
     AND aggregate_versions.aggregate_id = head.aggregate_id
)
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
 ORDER BY e.n`;

/** Every row shares `createdAt`: one transaction's events are stamped with one time. */
export async function insertOutboxRows(
  client: pg.ClientBase,
  rows: readonly OutboxRow[],
  heads: readonly NewAggregateHead[],
  createdAt: Date,
): Promise<void> {
  const column = <V>(pick: (row: OutboxRow) => V) => rows.map(pick);
  await client.query({
    name: "outbox.insert-rows.v2",
    text,
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
    ],
  });
}

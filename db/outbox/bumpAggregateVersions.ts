// The statement that starts every append to an aggregate: bumps the aggregate's version by its number of new
// events and returns the new version with the aggregate's last hash. Bumping the row is a write lock on the
// aggregate, so its writers serialize here. A named (prepared) statement: parsed once per connection.
import type pg from "pg";

export interface AggregateBump {
  aggregateType: string;
  aggregateId: string;
  /** How many events this transaction appends to the aggregate. */
  events: number;
}

export interface AggregateHead {
  aggregateType: string;
  aggregateId: string;
  /** The aggregate's version after the bump: its last new event's. */
  version: number;
  /** The hash of the aggregate's event before the new ones; empty for a new aggregate. */
  lastHash: Buffer;
}

// Rows are taken in the order given (WITH ORDINALITY), which the caller sorts: two multi-aggregate writers lock
// in one order and cannot deadlock each other.
const text = `
INSERT INTO aggregate_versions (aggregate_type, aggregate_id, version, last_hash)
SELECT bump.aggregate_type, bump.aggregate_id, bump.events, '\\x'::bytea
  FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS bump(aggregate_type, aggregate_id, events, n)
 ORDER BY bump.n
ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = aggregate_versions.version + excluded.version
RETURNING aggregate_type, aggregate_id, version, last_hash`;

export async function bumpAggregateVersions(
  client: pg.ClientBase,
  bumps: readonly AggregateBump[],
): Promise<AggregateHead[]> {
  const { rows } = await client.query<{
    aggregate_type: string;
    aggregate_id: string;
    version: string;
    last_hash: Buffer;
  }>({
    name: "outbox.bump-aggregate-versions.v1",
    text,
    values: [
      bumps.map((bump) => bump.aggregateType),
      bumps.map((bump) => bump.aggregateId),
      bumps.map((bump) => bump.events),
    ],
  });
  return rows.map((row) => ({
    aggregateType: row.aggregate_type,
    aggregateId: row.aggregate_id,
    version: Number(row.version),
    lastHash: row.last_hash,
  }));
}

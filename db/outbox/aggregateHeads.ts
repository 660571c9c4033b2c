// The heads of the aggregates a write transaction declares before it starts (writeTransaction's `appendsTo`
// and `lockAggregate`), read in the round trip that begins the transaction: appending to one of them then
// needs no statement of its own to learn the aggregate's version and last hash (bumpAggregateVersions.ts).
// The outbox insert writes the head back only if it is still the one read here (insertOutboxRows.ts), and a
// concurrent writer that changed it after this transaction's snapshot fails the write with a serialization
// failure (REPEATABLE READ), which writeTransaction retries with a fresh read.
import pg from "pg";
import type { AggregateHead } from "./bumpAggregateVersions.ts";

export interface AggregateRef {
  aggregateType: string;
  aggregateId: string;
}

/**
 * The statement that reads the heads, to be sent after BEGIN in one simple query, which takes no parameters:
 * the type and id are written in as literals, quoted by the driver.
 */
export function readHeadsSql(aggregates: readonly AggregateRef[]): string {
  const pairs = aggregates.map(
    ({ aggregateType, aggregateId }) =>
      `(${pg.escapeLiteral(aggregateType)}, ${pg.escapeLiteral(aggregateId)})`,
  );
  return `SELECT aggregate_type, aggregate_id, version, last_hash FROM aggregate_versions
 WHERE (aggregate_type, aggregate_id) IN (${pairs.join(", ")})`;
}

interface HeadRow {
  aggregate_type: string;
  aggregate_id: string;
  version: string;
  last_hash: Buffer;
}

const heads = new WeakMap<pg.ClientBase, Map<string, AggregateHead>>();

/**
 * Keeps what `readHeadsSql` read for the transaction now open on `client`; an aggregate without a row is new
 * (version 0, no hash). Replaces what an earlier attempt kept.
 */
export function keepHeads(client: pg.ClientBase, aggregates: readonly AggregateRef[], rows: unknown[]): void {
  const read = new Map<string, AggregateHead>();
  for (const { aggregateType, aggregateId } of aggregates) {
    read.set(headKey(aggregateType, aggregateId), {
      aggregateType,
      aggregateId,
      version: 0,
      lastHash: Buffer.alloc(0),
    });
  }
  for (const row of rows as HeadRow[]) {
    read.set(headKey(row.aggregate_type, row.aggregate_id), {
      aggregateType: row.aggregate_type,
      aggregateId: row.aggregate_id,
      version: Number(row.version),
      lastHash: row.last_hash,
    });
  }
  heads.set(client, read);
}

/** Forgets the heads when the transaction ends: they belong to its snapshot, and the connection goes back. */
export function forgetHeads(client: pg.ClientBase): void {
  heads.delete(client);
}

/**
 * The head read at the start of the transaction, handed out once: a second append to the aggregate in the
 * same transaction (or one after a savepoint rolled the first back) bumps the row as any undeclared append does.
 */
export function takeHead(
  client: pg.ClientBase,
  aggregateType: string,
  aggregateId: string,
): AggregateHead | undefined {
  const read = heads.get(client);
  const key = headKey(aggregateType, aggregateId);
  const head = read?.get(key);
  read?.delete(key);
  return head;
}

function headKey(aggregateType: string, aggregateId: string): string {
  return `${aggregateType}\u0000${aggregateId}`;
}

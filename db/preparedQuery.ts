// The services' hot statements as drizzle prepared queries: built once per connection rather than once per
// request. A drizzle prepared query runs on the session it was built from, and each pooled connection has a
// drizzle session of its own (db/client.ts), so a statement is prepared once on each connection and kept with it;
// its name makes it a pg named statement too, which Postgres parses once per connection.
import { type Column, type SQL, sql } from "drizzle-orm";
import type { WriteTransaction } from "./client.ts";

/**
 * `prepare` run once per connection: the returned function gives the connection's own query. Kept by drizzle
 * session, which a savepoint's transaction (`tx.transaction`) shares with its parent.
 */
export function preparedPerConnection<Query>(
  prepare: (tx: WriteTransaction) => Query,
): (tx: WriteTransaction) => Query {
  const byConnection = new WeakMap<object, Query>();
  return (tx) => {
    let query = byConnection.get(tx._.session);
    if (query === undefined) {
      query = prepare(tx);
      byConnection.set(tx._.session, query);
    }
    return query;
  };
}

/**
 * A placeholder whose value drizzle sends as given: `encodedValue` makes it. For an UPDATE's `set`, whose types
 * take no placeholder, and for a column that may be null: given as a column's value, drizzle's own
 * `sql.placeholder` runs the column's encoder on null too (a jsonb column would store the JSON `null`, a
 * timestamp column throw), where a query built per request sends SQL NULL.
 */
export function encodedPlaceholder(name: string): SQL {
  return sql`${sql.placeholder(name)}`;
}

/** An `encodedPlaceholder`'s value, encoded as drizzle encodes a built query's: null stays SQL NULL. */
export function encodedValue(column: Column, value: unknown): unknown {
  return value === null ? null : column.mapToDriverValue(value);
}

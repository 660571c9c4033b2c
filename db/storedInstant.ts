// A timestamp column read as the instant Postgres holds, to the microsecond. The driver, and the schema's
// `instant` columns (db/schema.ts), read it into a Date, which holds milliseconds and cuts the rest: a time
// answered from such a read names another instant than the row holds, and a client that passes it back as a
// bound (the audit API's from and to compare exactly) misses the row it saw.
import { instantOfMicroseconds, instantText } from "../events/instant.ts";

/**
 * SQL for the microseconds since the epoch that the timestamp `expression` holds, as decimal text (NULL for
 * NULL). `extract(epoch …)` is numeric, exact to the microsecond (PostgreSQL 14 on), and so is its product.
 */
export function epochMicrosecondsSql(expression: string): string {
  return `(extract(epoch FROM ${expression}) * 1000000)::bigint::text`;
}

/**
 * The stored time that epochMicrosecondsSql read, in RFC 3339, UTC, `Z`, as instantText writes it: three
 * fraction digits when it lies on a millisecond (toISOString()'s text, as every time the write path stamps),
 * six when it does not. One spelling per instant, never cut.
 */
export function storedInstantText(epochMicroseconds: string): string {
  return instantText(instantOfMicroseconds(BigInt(epochMicroseconds)));
}

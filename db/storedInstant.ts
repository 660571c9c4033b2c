// A timestamp column read as the instant Postgres holds, to the microsecond. The driver, and the schema's
// `instant` columns (db/schema.ts), read it into a Date, which holds milliseconds and cuts the rest: a time
// answered from such a read names another instant than the row holds, and a client that passes it back as a
// bound (the audit API's from and to compare exactly) misses the row it saw.
import { instantOfMicroseconds, instantText } from "../events/instant.ts";

/**
 * SQL for the microseconds since the epoch that the timestamp `expression` holds, as decimal text (NULL for
 * NULL). `extract(epoch …)` is numeric, exact to the microsecond (PostgreSQL 14 on), and so is its product. Kept
 * numeric, never cast to bigint: a time written by hand may be `infinity` (read `Infinity`) or lie past the
 * years a bigint of microseconds since 1970 reaches, and the query must still answer so that the row is named.
 */
export function epochMicrosecondsSql(expression: string): string {
  return `trunc(extract(epoch FROM ${expression}) * 1000000)::text`;
}

/** The microseconds since the epoch of 0001-01-01T00:00:00Z and of 10000-01-01T00:00:00Z. */
const FIRST_ANSWERABLE = -62_135_596_800_000_000n;
const PAST_LAST_ANSWERABLE = 253_402_300_800_000_000n;

/**
 * The stored time that epochMicrosecondsSql read, in RFC 3339, UTC, `Z`, as instantText writes it: three
 * fraction digits when it lies on a millisecond (toISOString()'s text, as every time the write path stamps),
 * six when it does not. One spelling per instant, never cut. Null for a time no RFC 3339 text names
 * (`infinity`, `-infinity`, before the year 1 or after 9999): the project stamps none, so it was written by hand.
 */
export function storedInstantText(epochMicroseconds: string): string | null {
  if (!/^-?[0-9]+$/.test(epochMicroseconds)) return null;
  const microseconds = BigInt(epochMicroseconds);
  if (microseconds < FIRST_ANSWERABLE || microseconds >= PAST_LAST_ANSWERABLE) return null;
  return instantText(instantOfMicroseconds(microseconds));
}

// What a dead letter says of the error a handler failed with. `dlq.error.message` is plain text on the
// dead-letter topic and in `npm run dlq list`, where no erasure reaches: it must not carry the event's data.
// A handler's own errors say what went wrong in the project's words; the errors of the database under it
// repeat the values they refused.
import { DrizzleQueryError } from "drizzle-orm";
import pg from "pg";

/**
 * The error as a dead letter may record it:
 * - a Postgres error by its SQLSTATE and the schema names it gives (constraint, table, column, type), never its
 *   message or detail (`Key (email)=(ada@example.org) already exists`, `invalid input syntax for type uuid:
 *   "…"`);
 * - drizzle's wrapper of a failed query by the Postgres error under it: its own message lists the query's
 *   parameters;
 * - a SyntaxError by its kind alone: JSON.parse quotes the start of the text it could not read;
 * - any other error by its message.
 */
export function recordableMessage(error: unknown): string {
  if (error instanceof DrizzleQueryError) {
    return error.cause === undefined
      ? "a query failed (its parameters are not recorded)"
      : recordableMessage(error.cause);
  }
  if (error instanceof pg.DatabaseError) {
    const names = [
      error.constraint && `constraint ${error.constraint}`,
      error.table && `table ${error.table}`,
      error.column && `column ${error.column}`,
      error.dataType && `type ${error.dataType}`,
    ].filter(Boolean);
    return `Postgres refused the statement: SQLSTATE ${error.code ?? "unknown"}${names.length > 0 ? ` (${names.join(", ")})` : ""}; its message, which may quote the values refused, is not recorded`;
  }
  if (error instanceof SyntaxError)
    return "SyntaxError; its message, which may quote the text, is not recorded";
  if (error instanceof Error) return error.message;
  return `a thrown ${typeof error}, not an Error`;
}

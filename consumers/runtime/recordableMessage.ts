// What a dead letter says of the error a handler failed with. `dlq.error.message` is plain text on the
// dead-letter topic and in `npm run dlq list`, where no erasure reaches: it must not carry the event's data.
// Only the project's errors that say so (DataFreeError) are recorded by their message; the database's errors by
// their SQLSTATE; any other error (a library's: an SMTP server's refusal, a URL parser's) by its name, its code
// and the line of the project's code it came through, since its message may quote what it was given.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DrizzleQueryError } from "drizzle-orm";
import pg from "pg";
import { DataFreeError } from "../../events/dataFreeError.ts";
import { EventValidationError } from "../../events/errors.ts";

/** The repository's root, which the recorded line of code is named from. */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The error as a dead letter may record it:
 * - a DataFreeError by its message;
 * - an EventValidationError by its problems, naming no field or key the value chose;
 * - a Postgres error by its SQLSTATE and the schema names it gives (constraint, table, column, type), never its
 *   message or detail (`Key (email)=(ada@example.org) already exists`, `invalid input syntax for type uuid:
 *   "…"`);
 * - drizzle's wrapper of a failed query by the Postgres error under it: its own message lists the query's
 *   parameters;
 * - any other error by its name, its code when that is a plain identifier, and where it came from.
 */
export function recordableMessage(error: unknown): string {
  if (error instanceof DataFreeError) return error.message;
  if (error instanceof EventValidationError) return error.messageNamingNothingFromTheValue();
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
  if (!(error instanceof Error)) return `a thrown ${typeof error}, not an Error`;
  const code = plainIdentifier((error as { code?: unknown }).code);
  const said = [
    plainIdentifier(error.name) ?? "an error",
    code === null ? "" : ` (code ${code})`,
    ...[projectLine(error.stack)].filter(Boolean).map((line) => ` at ${line}`),
  ];
  return `${said.join("")}; its message, which may quote the data it was given, is not recorded`;
}

/**
 * A name or code as an error class or a library gives it (`TypeError`, `EAUTH`, `ERR_INVALID_URL`), else null:
 * what the logs and a dead letter may say of an error whose message they leave out.
 */
export function plainIdentifier(text: unknown): string | null {
  return typeof text === "string" && /^[A-Za-z][\w.-]{0,63}$/.test(text) ? text : null;
}

/**
 * The first frame of `stack` in the project's own code, as `path:line:column` from the repository's root, else
 * null. A frame counts only when it names a file that exists: a message spanning lines can imitate a frame, not
 * a file of the repository, and the function's name, which such a line could choose, is left out.
 */
function projectLine(stack: string | undefined): string | null {
  for (const line of stack?.split("\n") ?? []) {
    const frame = /^\s+at (?:.* \()?(?:file:\/\/)?(\/[^()]+?):(\d+):(\d+)\)?$/.exec(line);
    if (!frame) continue;
    const [, file = "", row, column] = frame;
    if (!file.startsWith(ROOT) || file.includes("/node_modules/") || !existsSync(file)) continue;
    return `${file.slice(ROOT.length)}:${row}:${column}`;
  }
  return null;
}

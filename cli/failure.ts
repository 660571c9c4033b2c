// What an `npm run` command says when it stops on an error, and its exit code. Three kinds, told apart so that an
// operator knows whether to fix something or report a bug:
// - the operator's problem (configuration, a service that does not answer, a database not migrated or a role
//   without a privilege, a file that cannot be read): one line naming what to fix, exit code 1;
// - the command's own refusal (an error the project throws with a message for the operator): one line, exit 1;
// - a fault of the code (a TypeError, a failed assertion, a Postgres error the code did not expect, anything
//   thrown that is not an Error): "internal error" with its stack, exit code 70 (EX_SOFTWARE, sysexits.h).
// Nothing printed carries a query's parameters, nor the values a Postgres or JSON error quotes: they may be a
// patient's data.
import { DrizzleQueryError } from "drizzle-orm";
import { ConfigError } from "../config/env.ts";
import { closedToConnections } from "./closedToConnections.ts";

/** A refusal or the operator's problem: told in one line. */
export const EXIT_FAILED = 1;
/** A fault of the code (sysexits.h EX_SOFTWARE): told with its stack, to be reported. */
export const EXIT_INTERNAL_ERROR = 70;

export type Failure =
  | { kind: "operator" | "refused"; message: string }
  | {
      kind: "internal";
      /** The error and its causes, each a header line and its stack frames, with no data they quoted. */
      report: string;
    };

/** Tells the three kinds apart (see the top of this file). */
export function classifyFailure(error: unknown): Failure {
  const problem = operatorProblem(error);
  if (problem !== null) return { kind: "operator", message: problem };
  const inner = unwrapped(error);
  if (isCodeFault(inner)) return { kind: "internal", report: faultReport(error) };
  return { kind: "refused", message: inner instanceof Error ? inner.message : String(inner) };
}

/**
 * Prints why the command stopped on stderr (`<command> failed: ` before it when `command` is given) and returns
 * the exit code to end with: 1 for the operator's problem or a refusal, 70 for a fault of the code.
 */
export function reportFailure(error: unknown, command?: string): number {
  const failure = classifyFailure(error);
  const prefix = command ? `${command} failed: ` : "";
  if (failure.kind !== "internal") {
    process.stderr.write(`${prefix}${failure.message}\n`);
    return EXIT_FAILED;
  }
  process.stderr.write(
    `${prefix}internal error: a fault of the code, not of its input or environment (exit code ${EXIT_INTERNAL_ERROR}); ` +
      `report it with this trace (query parameters and quoted values withheld):\n${failure.report}\n`,
  );
  return EXIT_INTERNAL_ERROR;
}

/**
 * The one-line message of a refusal or the operator's problem, or `internal error: <the error's first line>` for
 * a fault: for a caller that folds it into a line of its own. reportFailure says more.
 */
export function failureMessage(error: unknown): string {
  const failure = classifyFailure(error);
  if (failure.kind !== "internal") return failure.message;
  return `internal error: ${failure.report.split("\n", 1)[0]}`;
}

/** The error a wrapper stands for: drizzle's failed query wraps the driver's error, KafkaJS a non-Kafka one. */
function unwrapped(error: unknown): unknown {
  for (let current = error, depth = 0; depth < 8; depth++) {
    const cause = (current as { cause?: unknown } | null)?.cause;
    const wrapper =
      current instanceof DrizzleQueryError ||
      (current instanceof Error &&
        current.name === "KafkaJSNonRetriableError" &&
        cause instanceof Error &&
        !cause.name.startsWith("KafkaJS"));
    if (!wrapper || cause === undefined) return current;
    current = cause;
  }
  return error;
}

/** The errors JavaScript itself throws for a mistake in the code. */
const LANGUAGE_ERRORS = [TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError];

function isCodeFault(error: unknown): boolean {
  if (!(error instanceof Error)) return true;
  if (LANGUAGE_ERRORS.some((type) => error instanceof type)) return true;
  if ((error as Error & { code?: unknown }).code === "ERR_ASSERTION") return true;
  // A Postgres error the operator cannot fix (those are operatorProblem's): the code asked for something wrong.
  return isPostgresError(error);
}

/**
 * An error the Postgres server sent (pg's DatabaseError: a severity and a five-character SQLSTATE), told by its
 * fields rather than by instanceof, so that a command that never opens a connection does not load pg to fail.
 */
function isPostgresError(error: Error): error is PostgresError {
  const { code, severity } = error as Partial<PostgresError>;
  return typeof severity === "string" && typeof code === "string" && /^[0-9A-Z]{5}$/.test(code);
}

/** The fields of pg's DatabaseError this module reads. */
interface PostgresError extends Error {
  code: string;
  severity: string;
  table?: string;
  column?: string;
  constraint?: string;
}

/** The error and its causes (a few levels), each as a header line and its stack frames. */
function faultReport(error: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  for (let current = error, depth = 0; current !== undefined && depth < 5; depth++) {
    if (seen.has(current)) break;
    seen.add(current);
    const lines = [safeHeader(current), ...stackFrames(current)];
    parts.push(depth === 0 ? lines.join("\n") : `caused by: ${lines.join("\n")}`);
    current = current instanceof Error ? (current as Error & { cause?: unknown }).cause : undefined;
  }
  return parts.join("\n");
}

/** Postgres' data exceptions (class 22) quote the value they could not take: `invalid input syntax for type uuid: "…"`. */
const DATA_EXCEPTION = /^22/;

/** What the error is, without the data it may quote. */
function safeHeader(error: unknown): string {
  if (!(error instanceof Error)) return `thrown: a ${error === null ? "null" : typeof error}, not an Error`;
  if (error instanceof DrizzleQueryError)
    return `DrizzleQueryError: failed query (parameters withheld): ${oneLine(error.query)}`;
  if (isPostgresError(error)) {
    const message = DATA_EXCEPTION.test(error.code ?? "") ? withheldQuotes(error.message) : error.message;
    const where = [
      error.table && `table ${error.table}`,
      error.column && `column ${error.column}`,
      error.constraint && `constraint ${error.constraint}`,
    ].filter(Boolean);
    // Never its detail or where: "Key (email)=(…) already exists", "Failing row contains (…)".
    return `Postgres error ${error.code}: ${message}${where.length > 0 ? ` (${where.join(", ")})` : ""}`;
  }
  // JSON.parse quotes the text it failed on, BigInt() the value it could not convert.
  const message =
    error instanceof SyntaxError
      ? withheldQuotes(error.message).replace(
          /^Cannot convert .* to a BigInt$/s,
          "Cannot convert (withheld) to a BigInt",
        )
      : error.message;
  return `${error.name}: ${oneLine(message)}`;
}

function withheldQuotes(message: string): string {
  return message.replace(/"(?:[^"\\]|\\.)*"(?:\.\.\.)?/g, '"(withheld)"');
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

/**
 * The "    at …" lines of the error's stack. V8 puts the message (which for drizzle's failed query holds the
 * parameters) before them: they are taken only after that message is found at the start, never by pattern from
 * text that may be data.
 */
function stackFrames(error: unknown): string[] {
  if (!(error instanceof Error) || typeof error.stack !== "string") return [];
  const { stack } = error;
  const headers = [error.name, error.constructor?.name, "Error"]
    .filter((name): name is string => typeof name === "string" && name !== "")
    .map((name) => (error.message === "" ? name : `${name}: ${error.message}`));
  const header = headers.find((candidate) => stack === candidate || stack.startsWith(`${candidate}\n`));
  if (header === undefined)
    return ["    (stack withheld: it does not start with the message, which may hold data)"];
  return stack
    .slice(header.length + 1)
    .split("\n")
    .filter((line) => /^\s+at /.test(line) || /^\s+\.\.\. \d+ lines? matching/.test(line));
}

/**
 * The errors the operator fixes, not the code, as one line each, however deep a query's or a client's error
 * wraps them; null for any other error.
 */
function operatorProblem(error: unknown): string | null {
  if (error instanceof ConfigError) return error.message;
  for (let cause = error; cause instanceof Error; cause = (cause as Error & { cause?: unknown }).cause) {
    const problem = httpServiceUnreachable(error, cause) ?? unreachableService(cause) ?? fileProblem(cause);
    if (problem !== null) return problem;
  }
  for (let cause = error; cause instanceof Error; cause = (cause as Error & { cause?: unknown }).cause) {
    const problem = postgresOperatorProblem(cause);
    if (problem !== null) return problem;
  }
  return null;
}

/** The errors of a connection that was refused, timed out, or found no such host or database. */
const CANNOT_CONNECT = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
]);
/** Postgres refusing the connection itself: the password, the user, the database. */
const POSTGRES_REFUSED = new Set(["28P01", "28000", "3D000"]);

/**
 * Node's fetch failing to connect (`TypeError: fetch failed`, its cause the socket's error) is an HTTP service
 * that does not answer (Kafka Connect's REST API), not Postgres: the error around it names the service.
 */
function httpServiceUnreachable(outermost: unknown, error: Error): string | null {
  const cause = (error as Error & { cause?: unknown }).cause;
  if (!(error instanceof TypeError && error.message === "fetch failed" && cause instanceof Error))
    return null;
  const code = (cause as Error & { code?: unknown }).code;
  if (typeof code !== "string" || !CANNOT_CONNECT.has(code)) return null;
  if (outermost !== error && outermost instanceof Error) return outermost.message;
  return `an HTTP service cannot be reached: ${cause.message}`;
}

/**
 * What to tell the operator when the Postgres or the Kafka the environment names cannot be reached: the variable
 * that names it and why, without a stack trace (the environment's mistake, or an outage, not the code's). Null
 * for any other error.
 */
function unreachableService(error: Error): string | null {
  const { code, address, port } = error as Error & { code?: unknown; address?: unknown; port?: unknown };
  if (error.name.startsWith("KafkaJS") && kafkaConnectionFailed(error))
    return `Kafka cannot be reached at the brokers KAFKA_BROKERS names: ${error.message}`;
  if (typeof code === "string" && CANNOT_CONNECT.has(code)) {
    const where = typeof address === "string" ? ` (${address}${port === undefined ? "" : `:${port}`})` : "";
    return `Postgres cannot be reached at ${postgresServer()}${where}: ${error.message || code}`;
  }
  if (typeof code === "string" && POSTGRES_REFUSED.has(code))
    return `Postgres refused the connection ${process.env.DATABASE_URL ? "DATABASE_URL describes" : `to ${postgresServer()}`}: ${error.message}`;
  if (closedToConnections(error))
    return `${postgresDatabase()} takes no new connections now (${error.message}): run it again once it does`;
  if (code === undefined && PG_CONNECTION_ENDED.has(error.message))
    return `Postgres at ${postgresServer()} ended the connection (${error.message}): run it again`;
  return null;
}

/**
 * The Postgres server a command used: the one DATABASE_URL names; with DATABASE_URL unset (or empty), the project's
 * own, on POSTGRES_PORT, which the operator never named by DATABASE_URL.
 */
const postgresServer = () =>
  process.env.DATABASE_URL
    ? "the server DATABASE_URL names"
    : "the project's own Postgres (POSTGRES_PORT; DATABASE_URL is unset)";

/** The database a command used, as postgresServer says its server. */
const postgresDatabase = () =>
  process.env.DATABASE_URL
    ? "the database DATABASE_URL names"
    : "the project's own database (POSTGRES_PORT; DATABASE_URL is unset)";

/**
 * pg's own words, with no code, for a connection that ended under a query (the server restarted or ended the
 * session, the network broke) or never came up in time: an outage, not the code's fault; the command is rerun.
 */
const PG_CONNECTION_ENDED = new Set([
  "Connection terminated unexpectedly",
  "Connection terminated due to connection timeout",
  // A query on a client whose connection an error (a FATAL from the server, a reset) has ended already.
  "Client has encountered a connection error and is not queryable",
]);

/**
 * A Postgres error that is the database's state or the server's, not the code's: a database without the
 * project's tables (never migrated, migrated by an older version, or another application's), a role without a
 * privilege, a server that takes no writes, a server shutting down or full, a query cancelled by a timeout or an
 * administrator. Their messages name tables and settings, never data. Null for any other error.
 */
function postgresOperatorProblem(error: Error): string | null {
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code !== "string") return null;
  switch (code) {
    case "42P01":
      // DATABASE_URL unset (or empty), the command ran against the project's own Postgres, started for it.
      return process.env.DATABASE_URL
        ? `the database DATABASE_URL names is not migrated, or not this project's (${error.message}): run npm run db:migrate against it`
        : `the project's own database, which a command uses while DATABASE_URL is unset, is not migrated (${error.message}): run npm run db:migrate, or set DATABASE_URL to the database meant`;
    case "42501":
      return `the role DATABASE_URL logs in as lacks a privilege this command needs (${error.message}): grant it, or use the project's role`;
    case "25006":
      return `${postgresServer()} takes no writes (${error.message}): a standby, or default_transaction_read_only; point DATABASE_URL at the primary`;
    case "57014":
      return `Postgres cancelled a query (${error.message}): a statement_timeout, or an administrator; run it again`;
    case "57P01":
    case "57P02":
    case "57P03":
    case "53300":
      return `Postgres at ${postgresServer()} ended or refused the session (${error.message}): run it again once it is up`;
    case "25P03":
    case "25P04":
    case "57P05":
      return `Postgres ended the session on a timeout its server, database or role sets (${error.message}): run it again`;
  }
  return code.startsWith("08") && isPostgresError(error)
    ? `Postgres at ${postgresServer()} broke the connection (${error.message}): run it again`
    : null;
}

/**
 * A file or directory the command cannot read or write (a path an argument or a variable gave): Node's message
 * names the path and the reason ("ENOENT: no such file or directory, open '/x'"); its stack adds nothing.
 */
function fileProblem(error: Error): string | null {
  const { syscall, path } = error as Error & { syscall?: unknown; path?: unknown };
  return typeof syscall === "string" && typeof path === "string" ? error.message : null;
}

/** Whether a KafkaJS error (or the one it wraps) is a failed connection to a broker. */
function kafkaConnectionFailed(error: Error): boolean {
  for (
    let cause: unknown = error;
    cause instanceof Error;
    cause = (cause as Error & { cause?: unknown }).cause
  ) {
    // A broker that closed the connection (or a network that dropped it) is KafkaJSConnectionClosedError.
    if (cause.name === "KafkaJSConnectionError" || cause.name === "KafkaJSConnectionClosedError") return true;
  }
  return false;
}

// Whether an error is Postgres being unavailable now, rather than anything the work asked wrong: the same work,
// later, can succeed. The services answer it 503 with Retry-After (apps/http/service.ts); the consumers wait it
// out in place rather than park every record they read meanwhile (consumers/runtime/deadLetterPolicy.ts).
import { closedToConnections } from "../cli/closedToConnections.ts";

/**
 * SQLSTATEs: class 08, connection exception; class 53, insufficient resources (disk full, out of memory, too many
 * connections); class 57, operator intervention (a query cancelled by `statement_timeout` or an administrator, a
 * session terminated, the server shutting down or starting, `idle_session_timeout`); 25P03 and 25P04, a session
 * ended by `idle_in_transaction_session_timeout` or `transaction_timeout`; 55P03, a lock not granted within
 * `lock_timeout`. None of them is the statement's fault: each is the server's state or an operator's setting.
 */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57[0-9A-Z]{3}|25P0[34]|55P03)$/;

/** The network's codes: the server, or the way to it, is not there. */
const UNAVAILABLE_SOCKET = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
]);

/**
 * node-postgres reports these without a code: a connection that could not be made in time, one ended under a
 * query, and a query sent on a connection that had already failed (a transaction's next statement, or its
 * ROLLBACK, once the server ended the session).
 */
const UNAVAILABLE_MESSAGE =
  /timeout exceeded when trying to connect|Connection terminated|connection error and is not queryable/;

/** Whether `error`, or an error in its `cause` chain (drizzle and the consumers wrap the driver's), is one. */
export function databaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Object && depth < 10; depth++) {
    if (closedToConnections(current)) return true;
    const { code, message, errors, cause } = current as {
      code?: unknown;
      message?: unknown;
      errors?: unknown;
      cause?: unknown;
    };
    if (typeof code === "string" && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_SOCKET.has(code)))
      return true;
    if (typeof message === "string" && UNAVAILABLE_MESSAGE.test(message)) return true;
    // Node reports a refused connection to every address of a name as an AggregateError of each.
    if (Array.isArray(errors) && errors.some(databaseUnavailable)) return true;
    if (cause === current) return false;
    current = cause;
  }
  return false;
}

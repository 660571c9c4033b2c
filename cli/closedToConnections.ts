// A database that takes no new connections for now: `ALTER DATABASE … ALLOW_CONNECTIONS false` (an operator
// fencing it off for maintenance, a migration tool, a restore), or a server not accepting them yet. Postgres says
// so with SQLSTATE 55000, object_not_in_prerequisite_state, a class its statements raise for their own reasons
// too (a replication slot in use, a sequence not yet read): the function that raised it tells the two apart,
// `CheckMyDatabase` of a session's start, which names itself in every language; the English words, where a
// server or a proxy gives no routine.
const ROUTINE = "CheckMyDatabase";
const CLOSED = /is not currently accepting connections/;

/** Whether `error` is Postgres refusing a new connection to a database closed to them: an outage, not a fault. */
export function closedToConnections(error: unknown): boolean {
  const { code, message, routine } = error as { code?: unknown; message?: unknown; routine?: unknown };
  if (code !== "55000") return false;
  if (routine !== undefined) return routine === ROUTINE;
  return typeof message === "string" && CLOSED.test(message);
}

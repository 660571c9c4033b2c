// What became of a transaction whose COMMIT was sent and whose connection was lost before its answer came back.
//
// The COMMIT rides in one simple query with what follows it (the advisory unlock, or the next writer's BEGIN:
// db/client.ts). A session terminated while its COMMIT waits for the WAL flush commits (the flush is a critical
// section, which no signal interrupts) and ends at the statement after it: pg rejects the whole query, and the
// write was reported failed, a 503, while its state and its events were committed and on their way to Kafka.
// With an idle-in-transaction or network fault the same holds for a bare COMMIT. Postgres keeps each
// transaction's outcome: asked on another connection, it tells which happened.
import type pg from "pg";
import { exponentialBackoff, sleep } from "../retry/backoff.ts";

/** How often a transaction still in progress is asked about before its session is ended: its end is then certain. */
const ASKED_BEFORE_ENDING = 8;
/** And after: pg_terminate_backend has waited for the session to end, so one more answer is the last word. */
const ASKED_AT_MOST = ASKED_BEFORE_ENDING + 2;
const pause = exponentialBackoff({ baseMs: 5, capMs: 200 });
/**
 * Questions that may fail in all (their own connection lost too, as when an operator ends every session of the
 * platform) before Postgres counts as one that cannot be asked: about two seconds of pauses between them.
 */
const FAILED_QUESTIONS_AT_MOST = 8;
const pauseAfterFailure = exponentialBackoff({ baseMs: 50, capMs: 1_000, floorMs: 25 });

/**
 * Whether the transaction `txId` (a `pg_current_xact_id()`) committed, asked on another of the pool's
 * connections. One still in progress (its session not yet ended, as after a network fault) is waited for a
 * moment, then its backend is terminated, which aborts it unless it has committed by then, so the answer is never
 * a guess. A question that fails is asked again on a new connection. False when Postgres cannot be asked: the
 * caller then reports the failure it met.
 */
export async function committedAfterAll(pool: pg.Pool, txId: string): Promise<boolean> {
  const ask = askingAgainOnFailure();
  try {
    for (let attempt = 1; attempt <= ASKED_AT_MOST; attempt++) {
      const status = await ask(() => xactStatus(pool, txId));
      if (status !== "in progress") return status === "committed";
      if (attempt === ASKED_BEFORE_ENDING) await ask(() => endSessionOf(pool, txId));
      else await sleep(pause.delayMs(attempt));
    }
    return false;
  } catch {
    return false;
  }
}

/** Runs a question, again after a pause when it fails, until FAILED_QUESTIONS_AT_MOST have failed in all. */
function askingAgainOnFailure() {
  let failures = 0;
  return async <T>(question: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await question();
      } catch (error) {
        if (++failures >= FAILED_QUESTIONS_AT_MOST) throw error;
        await sleep(pauseAfterFailure.delayMs(failures));
      }
    }
  };
}

async function xactStatus(pool: pg.Pool, txId: string): Promise<string | null> {
  const { rows } = await pool.query<{ status: string | null }>({
    name: "commit-outcome.xact-status.v1",
    text: "SELECT pg_xact_status($1::xid8) AS status",
    values: [txId],
  });
  return rows[0]?.status ?? null;
}

/** Terminates the session that runs the transaction `txId`, if one still does (only one can): never another. */
async function endSessionOf(pool: pg.Pool, txId: string): Promise<void> {
  await pool.query({
    name: "commit-outcome.end-session.v1",
    text: "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE backend_xid = xid($1::xid8)",
    values: [txId],
  });
}

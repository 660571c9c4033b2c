// The aggregates' advisory locks (db/client.ts, writeTransaction's lockAggregate) as Postgres holds them, for
// tests that take one from another session or check that none is left.
import type pg from "pg";
import {
  type AggregateLock,
  connectionOf,
  type Database,
  type WriteTransaction,
  writeTransaction,
} from "../db/client.ts";

/** The aggregate's advisory key, as the lock holder's own session sees it, for another session to take. */
export function advisoryKeyOf(db: Database, aggregate: AggregateLock): Promise<string> {
  return writeTransaction(db, { lockAggregate: aggregate }, async (tx) => {
    const { rows } = await connectionOf(tx).query<{ key: string }>(
      `SELECT ((classid::bigint << 32) | objid::bigint)::text AS key
         FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()`,
    );
    return rows[0]?.key as string;
  });
}

/** How many advisory locks the sessions named `applicationName` hold or wait for (`waiting`: wait for only). */
export async function advisoryLocksOf(
  observer: pg.Client,
  applicationName: string,
  { waiting = false } = {},
): Promise<number> {
  const { rows } = await observer.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_locks JOIN pg_stat_activity USING (pid)
      WHERE locktype = 'advisory' AND application_name = $1 AND (NOT $2 OR NOT granted)`,
    [applicationName, waiting],
  );
  return rows[0]?.n ?? -1;
}

/**
 * A write that locks `aggregate` and is held inside its transaction (lock taken, BEGIN done) until `release()`:
 * `inside` resolves once it is there, `done` with what `work` returned after the release.
 */
export function heldWriter<T>(
  on: Database,
  aggregate: AggregateLock,
  work: (tx: WriteTransaction) => Promise<T>,
) {
  let entered: () => void = () => {};
  const inside = new Promise<void>((resolve) => {
    entered = resolve;
  });
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const done = writeTransaction(on, { lockAggregate: aggregate }, async (tx) => {
    entered();
    await released;
    return work(tx);
  });
  return { inside, release, done };
}

// One sweeper at a time across every process: a sweep runs in a transaction holding an advisory lock named
// after it, and a process that finds the lock taken skips that round, since another one is doing the work.
import { sql } from "drizzle-orm";
import type { Database } from "./client.ts";

type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];

/** Runs `sweep` unless another process is running the sweep of that name; null when it was skipped. */
export async function sweepAlone<T>(
  db: Database,
  name: string,
  sweep: (tx: Transaction) => Promise<T>,
): Promise<T | null> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.execute<{ alone: boolean }>(
      sql`SELECT pg_try_advisory_xact_lock(hashtext(${`sweep:${name}`})) AS alone`,
    );
    return rows[0]?.alone ? sweep(tx) : null;
  });
}

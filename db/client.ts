// The connection pool and the one way to run a transaction that writes events.

import type { ExtractTablesWithRelations } from "drizzle-orm";
import { drizzle, type NodePgDatabase, type NodePgTransaction } from "drizzle-orm/node-postgres";
import pg from "pg";
import { exponentialBackoff, sleep } from "../retry/backoff.ts";
import * as schema from "./schema.ts";

export type Database = NodePgDatabase<typeof schema> & { $client: pg.Pool };
type Transaction = NodePgTransaction<typeof schema, ExtractTablesWithRelations<typeof schema>>;

declare const writeTransactionBrand: unique symbol;
/** A transaction opened by `writeTransaction`: the only kind `appendEvents` accepts. */
export type WriteTransaction = Transaction & { readonly [writeTransactionBrand]: true };

export function createDatabase(
  databaseUrl: string,
  options: { max?: number; applicationName?: string } = {},
) {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? "healthcare-events",
  });
  // A client losing its connection (Postgres restarting) must not crash the process: an idle one reports
  // on the pool, a checked-out one on itself, and its next query fails with the cause anyway.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  return drizzle(pool, { schema }) as Database;
}

const SERIALIZATION_FAILURE = "40001";
const DEADLOCK_DETECTED = "40P01";
const MAX_ATTEMPTS = 20;
/** Pauses between two attempts: up to 2 ms after the first failure, growing to 250 ms. */
const retryBackoff = exponentialBackoff({ baseMs: 2, capMs: 250 });

/**
 * Runs `work` in a REPEATABLE READ transaction, retrying it from the start (up to 20 attempts, over at most a
 * few seconds) when Postgres reports a serialization failure or a deadlock. REPEATABLE READ is what keeps each aggregate's events in commit order for the
 * relay: a transaction whose aggregate was changed by another one that committed after it began fails
 * here and retries with a newer transaction id, instead of committing an older id after a newer one.
 */
export async function writeTransaction<T>(
  db: Database,
  work: (tx: WriteTransaction) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction((tx) => work(tx as WriteTransaction), {
        isolationLevel: "repeatable read",
      });
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
      const retryable = code === SERIALIZATION_FAILURE || code === DEADLOCK_DETECTED;
      if (!retryable || attempt >= MAX_ATTEMPTS) throw error;
      // Jittered, growing pauses let a crowd of writers on one hot row spread out instead of colliding again.
      await sleep(retryBackoff.delayMs(attempt));
    }
  }
}

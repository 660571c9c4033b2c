// The connection pool and the one way to run a transaction that writes events.

import { createHash } from "node:crypto";
import { SpanKind, trace } from "@opentelemetry/api";
import { ATTR_DB_SYSTEM_NAME, DB_SYSTEM_NAME_VALUE_POSTGRESQL } from "@opentelemetry/semantic-conventions";
import type { ExtractTablesWithRelations } from "drizzle-orm";
import { drizzle, type NodePgDatabase, type NodePgTransaction } from "drizzle-orm/node-postgres";
import pg from "pg";
import { inSpan } from "../events/tracing.ts";
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

/** The aggregate a transaction is about to change, declared so that its writers queue instead of colliding. */
export interface AggregateLock {
  aggregateType: string;
  aggregateId: string;
}

export interface WriteTransactionOptions {
  /** Declare it when the aggregate is known before the transaction starts: see `writeTransaction`. */
  lockAggregate?: AggregateLock;
}

const retries = { serialization: 0, deadlock: 0 };
/** How many attempts this process has retried so far, by cause: what proves the aggregate lock's worth. */
export function writeTransactionRetries(): Readonly<typeof retries> {
  return { ...retries };
}

/**
 * Runs `work` in a REPEATABLE READ transaction, retrying it from the start (up to 20 attempts, over at most a
 * few seconds) when Postgres reports a serialization failure or a deadlock. REPEATABLE READ is what keeps each
 * aggregate's events in commit order for the relay: a transaction whose aggregate was changed by another one
 * that committed after it began fails here and retries with a newer transaction id, instead of committing an
 * older id after a newer one.
 *
 * With `lockAggregate`, the connection first takes the aggregate's advisory lock and holds it until the
 * transaction has ended, so writers of one hot aggregate wait in line rather than fail and retry. The lock is
 * taken before BEGIN on purpose: a REPEATABLE READ snapshot is taken by the transaction's first statement, so a
 * lock taken inside would leave the waiter with a snapshot from before its predecessor committed, and it would
 * fail anyway. Under the lock, the transaction id (assigned at the first write) and the commit of each writer
 * of the aggregate follow lock order.
 */
export async function writeTransaction<T>(
  db: Database,
  work: (tx: WriteTransaction) => Promise<T>,
): Promise<T>;
export async function writeTransaction<T>(
  db: Database,
  options: WriteTransactionOptions,
  work: (tx: WriteTransaction) => Promise<T>,
): Promise<T>;
export function writeTransaction<T>(
  db: Database,
  ...args:
    | [(tx: WriteTransaction) => Promise<T>]
    | [WriteTransactionOptions, (tx: WriteTransaction) => Promise<T>]
): Promise<T> {
  const [options, work] = args.length === 1 ? [{}, args[0]] : args;
  // One span for the transaction, its lock wait and its retries: the outbox append inside is its child.
  return inSpan(
    "healthcare-events/db",
    "db transaction",
    {
      kind: SpanKind.CLIENT,
      attributes: {
        [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
        ...(options.lockAggregate ? { "db.aggregate_lock": options.lockAggregate.aggregateType } : {}),
      },
    },
    () => lockedAndRetried(db, options, work),
  );
}

async function lockedAndRetried<T>(
  db: Database,
  options: WriteTransactionOptions,
  work: (tx: WriteTransaction) => Promise<T>,
): Promise<T> {
  if (!options.lockAggregate) return retried(db, work);
  const key = advisoryKey(options.lockAggregate);
  const client = await db.$client.connect();
  let broken: Error | undefined;
  try {
    await client.query("SELECT pg_advisory_lock($1)", [key]);
    try {
      return await retried(databaseOn(client), work);
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [key]).catch((error: Error) => {
        // A connection that could not unlock is closed rather than pooled: closing releases the lock.
        broken = error;
      });
    }
  } catch (error) {
    broken ??= error as Error;
    throw error;
  } finally {
    client.release(broken);
  }
}

async function retried<T>(db: Database, work: (tx: WriteTransaction) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    trace.getActiveSpan()?.setAttribute("db.transaction.attempts", attempt);
    try {
      return await db.transaction((tx) => work(tx as WriteTransaction), {
        isolationLevel: "repeatable read",
      });
    } catch (error) {
      const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
      const retryable = code === SERIALIZATION_FAILURE || code === DEADLOCK_DETECTED;
      if (!retryable || attempt >= MAX_ATTEMPTS) throw error;
      if (code === SERIALIZATION_FAILURE) retries.serialization++;
      else retries.deadlock++;
      // Jittered, growing pauses let a crowd of writers on one hot row spread out instead of colliding again.
      await sleep(retryBackoff.delayMs(attempt));
    }
  }
}

/** A drizzle database over one checked-out connection, made once per pooled connection. */
const onConnection = new WeakMap<pg.PoolClient, Database>();
function databaseOn(client: pg.PoolClient): Database {
  let db = onConnection.get(client);
  if (!db) {
    db = drizzle(client, { schema }) as unknown as Database;
    onConnection.set(client, db);
  }
  return db;
}

/** The advisory lock's 64-bit key: the first 8 bytes of a hash of the aggregate's type and id. */
function advisoryKey({ aggregateType, aggregateId }: AggregateLock): string {
  return createHash("sha256")
    .update(`${aggregateType}\u0000${aggregateId}`)
    .digest()
    .readBigInt64BE(0)
    .toString();
}

// The connection pool and the one way to run a transaction that writes events.

import { createHash } from "node:crypto";
import { SpanKind, trace } from "@opentelemetry/api";
import { ATTR_DB_SYSTEM_NAME, DB_SYSTEM_NAME_VALUE_POSTGRESQL } from "@opentelemetry/semantic-conventions";
import { type ExtractTablesWithRelations, sql } from "drizzle-orm";
import { drizzle, type NodePgDatabase, NodePgTransaction } from "drizzle-orm/node-postgres";
import type { PgDialect } from "drizzle-orm/pg-core";
import pg from "pg";
import { uuid } from "../events/fields.ts";
import { inSpan } from "../events/tracing.ts";
import { exponentialBackoff, sleep } from "../retry/backoff.ts";
import { inAggregateQueue, nextInLine } from "./aggregateQueue.ts";
import {
  assertKeysWritten,
  forgetKeys,
  keepKeys,
  keysAsTheyAre,
  PATIENT_AGGREGATE,
  putKeysBack,
  readKeysSql,
} from "./begunKeys.ts";
import { committedAfterAll } from "./commitOutcome.ts";
import { type AggregateRef, forgetHeads, keepHeads, readHeadsSql } from "./outbox/aggregateHeads.ts";
import {
  closeRelayWakeup,
  outboxTransactionOf,
  takeOutboxRowsWritten,
  wakeRelay,
} from "./outbox/relayWakeup.ts";
import { closeKeyCache, keyCacheGeneration } from "./patientKeyCache.ts";
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
  // The pool's key cache listens on a connection of its own (db/patientKeyCache.ts), and its commits wake the
  // relay on another (db/outbox/relayWakeup.ts): both end with the pool.
  const end = pool.end.bind(pool);
  pool.end = (async () => {
    await Promise.all([closeKeyCache(pool), closeRelayWakeup(pool)]);
    return end();
  }) as typeof pool.end;
  return drizzle(pool, { schema }) as Database;
}

const SERIALIZATION_FAILURE = "40001";
const DEADLOCK_DETECTED = "40P01";
const MAX_ATTEMPTS = 20;
/** Pauses between two attempts: up to 2 ms after the first failure, growing to 250 ms. */
const retryBackoff = exponentialBackoff({ baseMs: 2, capMs: 250 });
/**
 * A write transaction plans its statements once per connection. Postgres replans a prepared statement for its
 * parameters (a custom plan) until it finds the plan made without them (generic) no dearer than the custom
 * ones were, and the outbox insert never passes that test: its arrays have one element in a custom plan and
 * an assumed ten in the generic one, so it was planned afresh on every write, at the cost of executing it
 * (0.3 ms). A write transaction's statements are short ones on keys and single rows, whose plan does not
 * depend on the values: the generic plan is theirs. SET LOCAL ends with the transaction, and rides with BEGIN
 * in one simple query (no round trip of its own).
 */
const BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ; SET LOCAL plan_cache_mode = force_generic_plan";

/** The aggregate a transaction is about to change, declared so that its writers queue instead of colliding. */
export type AggregateLock = AggregateRef;

export interface WriteTransactionOptions {
  /**
   * Declare it when the aggregate is known before the transaction starts: see `writeTransaction`. Several
   * (a consumer's records handled together) are all taken, always in one order, so that two transactions
   * that each need some of them never wait for each other.
   */
  lockAggregate?: AggregateLock | readonly AggregateLock[];
  /**
   * The aggregates the transaction will append events to, when they are known before it starts (a new
   * record's, whose id is made before): their heads (version, last hash) are read in the round trip that
   * begins the transaction, so that appending to them needs no statement of its own. The locked aggregates'
   * heads are read as well.
   */
  appendsTo?: AggregateRef | readonly AggregateRef[];
}

/**
 * What a transaction's work throws when it meets a conflict with a concurrent transaction that Postgres reports
 * otherwise than as a serialization failure, and that the same work from a fresh snapshot resolves (a row added
 * after this transaction's snapshot, which a foreign key then finds): writeTransaction retries it as one.
 */
export class SnapshotConflict extends Error {
  readonly code = SERIALIZATION_FAILURE;
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
 * With `lockAggregate`, writers of one hot aggregate wait in line rather than fail and retry, twice over:
 * - in this process, they queue (aggregateQueue.ts) before taking a pooled connection, so ten writers of one
 *   patient hold one connection, not ten, and the others' writes keep the rest of the pool;
 * - across processes, the connection takes the aggregate's session advisory lock and holds it until the
 *   transaction has ended. The lock is taken before BEGIN on purpose: a REPEATABLE
 *   READ snapshot is taken by the transaction's first statement, so a lock taken inside would leave the
 *   waiter with a snapshot from before its predecessor committed, and it would fail anyway. Under the lock,
 *   the transaction id (assigned at the first write) and the commit of each writer follow lock order.
 * - the head of the line hands the next writer of the same one aggregate its connection with the lock still
 *   held and its transaction begun by the round trip of its own COMMIT, while no other session waits for the
 *   lock (and at most MAX_HANDOVERS in a row): a hot aggregate's writers then send no lock of their own, and
 *   none waits for a connection.
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
  const locks = options.lockAggregate === undefined ? [] : [options.lockAggregate].flat();
  const declared = [...locks, ...(options.appendsTo === undefined ? [] : [options.appendsTo].flat())];
  // One span for the transaction, its lock wait and its retries: the outbox append inside is its child.
  return inSpan(
    "healthcare-events/db",
    "db transaction",
    {
      kind: SpanKind.CLIENT,
      attributes: {
        [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
        ...(locks.length > 0
          ? { "db.aggregate_lock": [...new Set(locks.map((lock) => lock.aggregateType))].join(",") }
          : {}),
      },
    },
    () => lockedAndRetried(db, locks, declared, work),
  );
}

/** A writer in its aggregates' line: what the writer before it needs to hand it its connection. */
interface InLine {
  pool: pg.Pool;
  /** Its advisory keys, sorted. */
  lockKeys: readonly string[];
  /** What begins its transaction: BEGIN, with the read of its declared aggregates' heads. */
  begin: string;
  /** Set by the writer before it, which committed and began this one's transaction on its own connection. */
  handed?: Handover;
}

interface Handover {
  client: pg.PoolClient;
  /** The results of `begin`, which rode with the predecessor's COMMIT. */
  begun: pg.QueryResult[];
  /** The key cache's generation before they were asked for (db/begunKeys.ts). */
  keysReadAt: number | null;
  /** How many writers in a row have had the lock without releasing it, this one included. */
  streak: number;
  /** Whether another session waited for the lock when it was handed on: then it is released at the next commit. */
  othersWaiting: boolean;
}

/**
 * How many writers of one aggregate in a row may pass its lock on without releasing it, when no other session
 * is seen waiting for it: a bound on how long one process's line keeps it.
 */
export const MAX_HANDOVERS = 16;
let handovers = 0;
/** How many transactions this process has begun on a connection and lock handed on by the writer before. */
export function writeTransactionHandovers(): number {
  return handovers;
}

async function lockedAndRetried<T>(
  db: Database,
  locks: readonly AggregateLock[],
  declared: readonly AggregateRef[],
  work: (tx: WriteTransaction) => Promise<T>,
): Promise<T> {
  // One order for every transaction (the keys' own), in this process's queues as in Postgres's locks.
  const lockKeys = [...new Set(locks.map(advisoryKey))].sort();
  const self: InLine = { pool: db.$client, lockKeys, begin: beginOf(declared) };
  const queued = lockKeys.reduceRight<() => Promise<T>>(
    (inner, key) => () => inAggregateQueue(key, inner, self),
    () => onPooledConnection(self, declared, work),
  );
  return queued();
}

/**
 * BEGIN, with the reads of the declared aggregates' heads and of the declared patients' data keys
 * (db/patientKeys.ts): in one simple query, they take the transaction's snapshot.
 */
function beginOf(declared: readonly AggregateRef[]): string {
  if (declared.length === 0) return BEGIN;
  return `${BEGIN}; ${readHeadsSql(declared)}; ${readKeysSql(declaredPatients(declared))}`;
}

/** The declared patients whose keys are read with BEGIN: any other id's key is read when it is needed. */
function declaredPatients(declared: readonly AggregateRef[]): string[] {
  const ids = declared
    .filter((ref) => ref.aggregateType === PATIENT_AGGREGATE && uuid.safeParse(ref.aggregateId).success)
    .map((ref) => ref.aggregateId);
  return [...new Set(ids)];
}

async function onPooledConnection<T>(
  self: InLine,
  declared: readonly AggregateRef[],
  work: (tx: WriteTransaction) => Promise<T>,
): Promise<T> {
  const client = self.handed?.client ?? (await self.pool.connect());
  pools.set(client, self.pool);
  let broken: Error | undefined;
  let handedOn = false;
  try {
    return await attempts(client, self, declared, work, () => {
      handedOn = true;
    });
  } catch (error) {
    // A connection whose transaction or lock could not be ended is closed rather than pooled: closing ends both.
    if (!(error instanceof WorkFailed)) broken = error as Error;
    throw error instanceof WorkFailed || error instanceof ConnectionLost ? error.cause : error;
  } finally {
    forgetHeads(client);
    forgetKeys(client);
    takeOutboxRowsWritten(client);
    // Handed on, the connection is the next writer's, in its transaction: it releases it.
    if (!handedOn) client.release(broken);
  }
}

/** What `work` itself threw (after a clean ROLLBACK): the connection is fine and goes back to the pool. */
class WorkFailed extends Error {}

/** What `work` threw, on a connection that could not roll back: it is closed, not pooled. */
class ConnectionLost extends Error {}

/**
 * The transaction, and its retries, on one connection. BEGIN and COMMIT are sent by hand rather than through
 * drizzle's `transaction`, so that the advisory unlock rides with COMMIT, and the declared aggregates' heads
 * are read with BEGIN (the read takes the transaction's snapshot, after the lock): a round trip less for each.
 *
 * A locked writer whose successor in this process's line waits for the same one lock, on the same pool, does
 * not unlock: it sends the successor's BEGIN with its COMMIT and hands it the connection, lock held and
 * transaction begun (its snapshot taken after the commit), and the successor needs neither a connection nor
 * the lock's round trip. The same round trip asks Postgres whether another session (another process's writer)
 * waits for the lock; if one does, the next writer releases it at its commit instead of handing it on, so
 * that writers of other processes wait behind two writes of this process at most, as they would without
 * handovers, where the lock alternates between the sessions queued for it. At most MAX_HANDOVERS in a row.
 */
async function attempts<T>(
  client: pg.PoolClient,
  self: InLine,
  declared: readonly AggregateRef[],
  work: (tx: WriteTransaction) => Promise<T>,
  handOn: () => void,
): Promise<T> {
  const tx = transactionOn(client);
  const { lockKeys } = self;
  // The keys are decimal bigints made here (advisoryKey), never input: they are safe to write into the text,
  // which lets the lock ride with BEGIN, and the unlock with COMMIT, each as one simple query. The lock is
  // taken in a transaction of its own, ended before the write transaction begins, so that the latter's
  // snapshot is taken after the lock is held. (Without its own BEGIN and COMMIT, the lock's SELECT would open
  // the multi-statement query's implicit transaction, which BEGIN would take over with the SELECT's snapshot.)
  // Several keys are taken one after the other, in the order given (unnest's).
  const lock =
    lockKeys.length === 1
      ? `BEGIN; SELECT pg_advisory_lock(${lockKeys[0]}); COMMIT; ${self.begin}`
      : `BEGIN; SELECT pg_advisory_lock(key) FROM unnest(ARRAY[${lockKeys.join(",")}]::bigint[]) AS key; COMMIT; ${self.begin}`;
  const unlock = `SELECT ${lockKeys.map((key) => `pg_advisory_unlock(${key})`).join(", ")}`;
  const locking = lockKeys.length > 0;
  let { handed } = self;
  let locked = handed !== undefined;
  let failure: unknown;
  const streak = handed?.streak ?? 0;
  const othersWaiting = handed?.othersWaiting ?? false;
  try {
    for (let attempt = 1; ; attempt++) {
      trace.getActiveSpan()?.setAttribute("db.transaction.attempts", attempt);
      let begun: pg.QueryResult | pg.QueryResult[];
      const keysReadAt = handed ? handed.keysReadAt : keyCacheGeneration(self.pool);
      if (handed) {
        begun = handed.begun;
        handovers++;
      } else if (locking && !locked) {
        locked = true;
        // A failure (a deadlock between lock waits, say) skips the rest and leaves the lock's transaction open.
        // The failure is what the caller learns: a ROLLBACK that fails too means a lost connection, which is
        // closed rather than pooled either way.
        begun = await client.query(lock).catch(async (error: unknown) => {
          await client.query("ROLLBACK").catch(() => {});
          throw error;
        });
      } else {
        begun = await client.query(self.begin);
      }
      // A multi-statement query answers with one result per statement: the heads' and the keys' reads are the
      // last two.
      if (declared.length > 0) {
        const results = [begun].flat();
        keepHeads(client, declared, results.at(-2)?.rows ?? []);
        keepKeys(client, declaredPatients(declared), results.at(-1)?.rows ?? [], keysReadAt);
      }
      handed = undefined;
      // An earlier attempt's rows were rolled back.
      takeOutboxRowsWritten(client);
      let result: T;
      try {
        result = await work(tx);
        assertKeysWritten(client);
      } catch (error) {
        // A ROLLBACK that fails too means a lost connection (what the work met may be why): the caller learns the
        // work's failure, not the ROLLBACK's, and the connection is closed rather than pooled.
        await client.query("ROLLBACK").catch(() => {
          throw new ConnectionLost("the transaction's connection was lost", { cause: error });
        });
        if (await retriedAfterPause(error, attempt)) continue;
        throw new WorkFailed("the transaction's work failed", { cause: error });
      }
      const next = locking && !othersWaiting ? successorOf(self, streak) : undefined;
      try {
        if (next) {
          const nextKeysReadAt = keyCacheGeneration(next.pool);
          const committed = (await client.query(
            `COMMIT; ${next.begin}; ${othersWaitingSql(lockKeys[0] as string)}`,
          )) as unknown as pg.QueryResult[];
          next.handed = {
            client,
            begun: committed.slice(1, -1),
            keysReadAt: nextKeysReadAt,
            streak: streak + 1,
            othersWaiting: committed.at(-1)?.rows[0]?.waiting === true,
          };
          locked = false;
          afterCommit(client, self.pool);
          handOn();
          return result;
        }
        await client.query(locking ? `COMMIT; ${unlock}` : "COMMIT");
        locked = false;
        afterCommit(client, self.pool);
        return result;
      } catch (error) {
        const status = await transactionStatusAfterFailure(client);
        // The next writer's BEGIN failed after the COMMIT succeeded: the connection is in a failed transaction
        // (status E). The next writer begins on its own; this one's work is committed.
        if (next && status === "E") {
          await client.query(`ROLLBACK; ${unlock}`);
          locked = false;
          afterCommit(client, self.pool);
          return result;
        }
        // The connection was lost with the COMMIT's answer: the session was ended after its COMMIT as well as
        // before (db/commitOutcome.ts). Postgres, asked on another connection, says which; committed, the write
        // is answered as done (the session's end released its lock), and never reported failed.
        if (status === undefined && (await committedOnLostConnection(client, self.pool))) {
          locked = false;
          afterCommit(client, self.pool);
          return result;
        }
        // A failed COMMIT has ended the transaction and skipped what rode with it (the unlock, or the next
        // writer's BEGIN).
        if (await retriedAfterPause(error, attempt)) continue;
        throw new WorkFailed("the transaction's commit failed", { cause: error });
      }
    }
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    // An unlock that fails means a lost connection, closed rather than pooled (closing releases the lock): the
    // caller still learns what the transaction met.
    if (locked) {
      await client.query(unlock).catch((unlockFailed: unknown) => {
        const met =
          failure instanceof WorkFailed || failure instanceof ConnectionLost ? failure.cause : failure;
        throw new ConnectionLost("the transaction's connection was lost", { cause: met ?? unlockFailed });
      });
    }
  }
}

/** A transaction committed on `client`: if it wrote outbox rows, the relay is woken (db/outbox/relayWakeup.ts). */
function afterCommit(client: pg.PoolClient, pool: pg.Pool): void {
  if (takeOutboxRowsWritten(client)) wakeRelay(pool);
}

/** Whether the transaction of `client`, whose connection is lost, committed: known when it wrote outbox rows. */
async function committedOnLostConnection(client: pg.PoolClient, pool: pg.Pool): Promise<boolean> {
  const txId = outboxTransactionOf(client);
  return txId !== undefined && (await committedAfterAll(pool, txId));
}

/**
 * The transaction status a failed query left. pg rejects a query as soon as Postgres reports the error, and
 * learns the status only from the ReadyForQuery message that follows, which may still be on its way: until
 * then `getTransactionStatus()` tells the status before the query. An empty query, which pg sends only after
 * that message and which Postgres answers in any state (even a failed transaction) without running anything,
 * makes the status current. Undefined if the connection is lost.
 */
async function transactionStatusAfterFailure(client: pg.PoolClient): Promise<string | null | undefined> {
  try {
    await client.query("");
    return client.getTransactionStatus();
  } catch {
    return undefined;
  }
}

/** Whether a session other than this one waits for the advisory lock `key` in this database. */
function othersWaitingSql(key: string): string {
  return `SELECT EXISTS (SELECT FROM pg_locks
  WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND ((classid::bigint << 32) | objid::bigint) = ${key}) AS waiting`;
}

/** The writer this one hands its connection and lock to when it commits, if any. */
function successorOf(self: InLine, streak: number): InLine | undefined {
  const [key, ...more] = self.lockKeys;
  if (key === undefined || more.length > 0 || streak >= MAX_HANDOVERS) return undefined;
  const next = nextInLine(key) as InLine | undefined;
  if (next?.pool !== self.pool || next.lockKeys.length !== 1) return undefined;
  return next;
}

async function retriedAfterPause(error: unknown, attempt: number): Promise<boolean> {
  const code = sqlState(error);
  if ((code !== SERIALIZATION_FAILURE && code !== DEADLOCK_DETECTED) || attempt >= MAX_ATTEMPTS) return false;
  if (code === SERIALIZATION_FAILURE) retries.serialization++;
  else retries.deadlock++;
  // Jittered, growing pauses let a crowd of writers on one hot row spread out instead of colliding again.
  await sleep(retryBackoff.delayMs(attempt));
  return true;
}

/**
 * The SQLSTATE of the error or of the first error in its `cause` chain that has one: drizzle wraps the
 * driver's error, and a consumer wraps a handler's failure again to say which record's it was.
 */
function sqlState(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Object && depth < 5; depth++) {
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === "string") return code;
    current = cause;
  }
  return undefined;
}

/**
 * A drizzle transaction over one checked-out connection, made once per pooled connection. It is drizzle's own
 * transaction class (so savepoints, `tx.transaction`, work as before) built on the connection's session;
 * `dialect` is drizzle-orm 0.45's internal field, pinned by the exact version in package.json.
 */
const onConnection = new WeakMap<pg.PoolClient, WriteTransaction>();
/** By drizzle session, which a savepoint's transaction (`tx.transaction`) shares with its parent. */
const connections = new WeakMap<object, pg.PoolClient>();
function transactionOn(client: pg.PoolClient): WriteTransaction {
  let tx = onConnection.get(client);
  if (!tx) {
    const inner = drizzle(client, { schema }) as unknown as NodePgDatabase<typeof schema> & {
      dialect: PgDialect;
    };
    const { session, schema: tables, fullSchema, tableNamesMap } = inner._;
    tx = new SavepointsForgetKeys(
      inner.dialect,
      session as never,
      tables ? { schema: tables, fullSchema, tableNamesMap } : undefined,
    ) as unknown as WriteTransaction;
    onConnection.set(client, tx);
    connections.set(session, client);
  }
  return tx;
}

/**
 * drizzle's savepoints (its NodePgTransaction.transaction, written again so that nested ones are of this class
 * too), which also take back what a rolled-back savepoint did to the declared patients' keys
 * (db/begunKeys.ts): a key made inside it is made no more, and one whose outbox statement it rolled back is
 * inserted no more, so a later append inserts it again and the commit guard refuses a key never written.
 */
class SavepointsForgetKeys extends NodePgTransaction<
  typeof schema,
  ExtractTablesWithRelations<typeof schema>
> {
  private readonly ownDialect: PgDialect;
  constructor(
    ...args: ConstructorParameters<
      typeof NodePgTransaction<typeof schema, ExtractTablesWithRelations<typeof schema>>
    >
  ) {
    super(...args);
    this.ownDialect = args[0];
  }

  override async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const { session } = this._;
    const savepoint = `sp${this.nestedIndex + 1}`;
    const client = connections.get(session);
    const nested = new SavepointsForgetKeys(
      this.ownDialect,
      session as never,
      this.schema,
      this.nestedIndex + 1,
    );
    await nested.execute(sql.raw(`savepoint ${savepoint}`));
    const keysBefore = client && keysAsTheyAre(client);
    try {
      const result = await work(nested);
      await nested.execute(sql.raw(`release savepoint ${savepoint}`));
      return result;
    } catch (error) {
      await nested.execute(sql.raw(`rollback to savepoint ${savepoint}`));
      if (client && keysBefore) putKeysBack(client, keysBefore);
      throw error;
    }
  }
}

const pools = new WeakMap<pg.PoolClient, pg.Pool>();
/** The pool a write transaction's connection came from: what per-database caches are kept by. */
export function poolOf(tx: WriteTransaction): pg.Pool {
  const pool = pools.get(connectionOf(tx));
  if (!pool) throw new Error("not a transaction opened by writeTransaction");
  return pool;
}

/** The connection under a write transaction, for the hot path's prepared statements (pg named queries). */
export function connectionOf(tx: WriteTransaction): pg.PoolClient {
  const client = connections.get(tx._.session);
  if (!client) throw new Error("not a transaction opened by writeTransaction");
  return client;
}

/** The advisory lock's 64-bit key: the first 8 bytes of a hash of the aggregate's type and id. */
function advisoryKey({ aggregateType, aggregateId }: AggregateLock): string {
  return createHash("sha256")
    .update(`${aggregateType}\u0000${aggregateId}`)
    .digest()
    .readBigInt64BE(0)
    .toString();
}

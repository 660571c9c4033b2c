// Wakes the polling relay once a transaction that wrote outbox rows has committed: a NOTIFY on the channel the
// relay listens on, which the writer's process sends after its COMMIT returned, in a transaction of its own.
//
// Not from inside the writing transaction, as a statement trigger on the outbox did until migration 0030:
// PostgreSQL serializes the commits of all transactions that sent a NOTIFY, holding one lock across each commit
// and its WAL flush (async.c, PreCommit_Notify), so every write of the platform waited for the flush of the
// write before it, and concurrent commits could no longer share a flush. A NOTIFY in a transaction that writes
// nothing holds that lock for microseconds: it has no transaction id, so its commit flushes nothing.
// (docs/performance.md, "NOTIFY serialized every commit", has the figures.)
//
// One NOTIFY at a time per pool, on a connection of its own (not one of the pool's: under load the pool's
// waiting queue is full of writers, and a NOTIFY behind them would reach the relay after its idle poll): a commit
// while one is in flight asks for another after it, so that each commit is followed by a NOTIFY sent after it
// (the relay's next poll then sees its rows), and a burst of commits costs a NOTIFY or two rather than one each.
// A NOTIFY that fails is not retried (its connection is dropped, and the next commit makes another): the relay's
// idle poll (200 ms) finds the rows anyway, as it finds the rows of any writer that sends none.
import pg from "pg";

/** The channel the relay LISTENs on. */
export const OUTBOX_CHANNEL = "outbox";

/** The connections whose open transaction wrote outbox rows, with that transaction's id. */
const wroteRows = new WeakMap<pg.ClientBase, string>();

/**
 * The transaction open on `client` (its id, `txId`) wrote outbox rows: its commit must wake the relay
 * (insertOutboxRows).
 */
export function noteOutboxRowsWritten(client: pg.ClientBase, txId: string): void {
  wroteRows.set(client, txId);
}

/**
 * The id of the transaction open on `client`, if it wrote outbox rows: a COMMIT whose answer was lost with the
 * connection is looked up by it (db/commitOutcome.ts).
 */
export function outboxTransactionOf(client: pg.ClientBase): string | undefined {
  return wroteRows.get(client);
}

/** Whether the transaction just ended on `client` wrote outbox rows; forgets it for the next one. */
export function takeOutboxRowsWritten(client: pg.ClientBase): boolean {
  return wroteRows.delete(client);
}

interface Wakeup {
  connectionString: string | undefined;
  connection: pg.Client | null;
  /** The NOTIFYs in flight, one after the other, until no commit asks for another; null when none is. */
  inFlight: Promise<void> | null;
  /** A commit came while a NOTIFY was in flight: another follows it. */
  again: boolean;
  closed: boolean;
}
const wakeups = new WeakMap<pg.Pool, Wakeup>();

/** Called after a COMMIT of outbox rows returned: sends the relay a NOTIFY, or one more after the one in flight. */
export function wakeRelay(pool: pg.Pool): void {
  let wakeup = wakeups.get(pool);
  if (!wakeup) {
    wakeup = {
      connectionString: pool.options.connectionString,
      connection: null,
      inFlight: null,
      again: false,
      closed: false,
    };
    wakeups.set(pool, wakeup);
  }
  if (wakeup.closed) return;
  if (wakeup.inFlight) {
    wakeup.again = true;
    return;
  }
  wakeup.inFlight = notifyUntilCaughtUp(wakeup);
}

/** With its pool: the NOTIFY in flight ends, then the connection. */
export async function closeRelayWakeup(pool: pg.Pool): Promise<void> {
  const wakeup = wakeups.get(pool);
  if (!wakeup) return;
  wakeup.closed = true;
  await wakeup.inFlight;
  await wakeup.connection?.end().catch(() => {});
  wakeup.connection = null;
}

async function notifyUntilCaughtUp(wakeup: Wakeup): Promise<void> {
  for (;;) {
    wakeup.again = false;
    const connection = await connected(wakeup);
    if (connection) await connection.query(`NOTIFY ${OUTBOX_CHANNEL}`).catch(() => drop(wakeup, connection));
    // Decided and cleared in one step: a commit after it starts a NOTIFY of its own, none is lost in between.
    if (!connection || !wakeup.again || wakeup.closed) {
      wakeup.inFlight = null;
      return;
    }
  }
}

async function connected(wakeup: Wakeup): Promise<pg.Client | null> {
  if (wakeup.connection) return wakeup.connection;
  const connection = new pg.Client({
    connectionString: wakeup.connectionString,
    application_name: "outbox-relay-wakeup",
    keepAlive: true,
  });
  connection.on("error", () => drop(wakeup, connection));
  try {
    await connection.connect();
  } catch {
    await connection.end().catch(() => {});
    return null;
  }
  wakeup.connection = connection;
  return connection;
}

function drop(wakeup: Wakeup, connection: pg.Client): void {
  if (wakeup.connection === connection) wakeup.connection = null;
  connection.end().catch(() => {});
}

// The connector's replication slot: created at a known position with an exported snapshot (the handover),
// inspected (lag, retained WAL), peeked for what it has not delivered yet, and dropped.
import pg, { type ClientBase } from "pg";

export interface SlotState {
  slotName: string;
  database: string;
  /** A walsender (the connector's task) is streaming from it. */
  active: boolean;
  activePid: number | null;
  /** Everything committed at or before this LSN has been delivered and acknowledged. */
  confirmedFlushLsn: string | null;
  /** pg_current_wal_lsn() - confirmed_flush_lsn: how far the connector is behind, in WAL bytes. */
  lagBytes: number | null;
  /** pg_current_wal_lsn() - restart_lsn: the WAL this slot keeps on disk. */
  retainedBytes: number | null;
  /** reserved / extended / unreserved / lost (lost: the server removed WAL the slot needed). */
  walStatus: string | null;
}

export async function slotState(
  client: ClientBase | pg.Pool,
  slotName: string,
): Promise<SlotState | undefined> {
  const result = await client.query<SlotState>(
    `SELECT slot_name AS "slotName", database, active, active_pid AS "activePid",
            confirmed_flush_lsn::text AS "confirmedFlushLsn",
            (pg_current_wal_lsn() - confirmed_flush_lsn)::float8 AS "lagBytes",
            (pg_current_wal_lsn() - restart_lsn)::float8 AS "retainedBytes",
            wal_status AS "walStatus"
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slotName],
  );
  return result.rows[0];
}

export interface ExportedSlot {
  /** The LSN from which the slot streams: transactions committed after it. */
  consistentPoint: string;
  /** A snapshot that sees exactly the transactions committed before consistentPoint. */
  snapshotName: string;
  /** Ends the replication session; the snapshot can no longer be imported after this. */
  release(): Promise<void>;
}

/**
 * Turns the server's idle timeouts off in a session that is held, idle or idle in a transaction, across waits of
 * its owner's (an exported snapshot's, a handover's): set against sessions an application forgot, they would end
 * it midway. `idle_session_timeout` exists from Postgres 14 on, and is set where the server has it.
 */
export async function keepThroughIdleWaits(client: ClientBase): Promise<void> {
  await client.query(
    `SELECT set_config(name, '0', false) FROM pg_settings
      WHERE name IN ('idle_in_transaction_session_timeout', 'idle_session_timeout')`,
  );
}

/**
 * Creates a logical slot (pgoutput) and exports the snapshot taken at its consistent point, over a
 * replication connection that stays open (and idle) until `release()`: the export lives only that long, so the
 * server's idle timeouts are off in it (keepThroughIdleWaits). Waits until every transaction running at the call
 * has ended, as slot creation always does.
 */
export async function createSlotExportingSnapshot(
  databaseUrl: string,
  slotName: string,
): Promise<ExportedSlot> {
  if (!/^[a-z0-9_]{1,63}$/.test(slotName)) throw new Error(`Invalid replication slot name: ${slotName}`);
  // node-postgres passes `replication` as a startup parameter; @types/pg does not declare it.
  const config: pg.ClientConfig & { replication: "database" } = {
    connectionString: databaseUrl,
    replication: "database",
    application_name: "outbox-handover",
  };
  const replication = new pg.Client(config);
  replication.on("error", () => {});
  await replication.connect();
  try {
    await keepThroughIdleWaits(replication);
    const result = await replication.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${slotName} LOGICAL pgoutput (SNAPSHOT 'export')`,
    );
    const row = result.rows[0];
    if (!row?.snapshot_name) throw new Error(`CREATE_REPLICATION_SLOT ${slotName} exported no snapshot`);
    return {
      consistentPoint: row.consistent_point,
      snapshotName: row.snapshot_name,
      release: () => replication.end(),
    };
  } catch (error) {
    await replication.end().catch(() => {});
    throw error;
  }
}

/** Opens a REPEATABLE READ transaction on `client` that sees the exported snapshot. */
export async function importSnapshot(client: ClientBase, snapshotName: string): Promise<void> {
  if (!/^[0-9A-Fa-f-]+$/.test(snapshotName)) throw new Error(`Invalid snapshot name: ${snapshotName}`);
  await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  await client.query(`SET TRANSACTION SNAPSHOT '${snapshotName}'`);
}

/**
 * Drops the slot once no walsender uses it (waiting up to `timeoutMs` for a stopping connector to let go).
 * A no-op when it does not exist.
 */
export async function dropSlot(client: ClientBase, slotName: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await slotState(client, slotName);
    if (!state) return;
    if (!state.active) {
      try {
        await client.query("SELECT pg_drop_replication_slot($1)", [slotName]);
        return;
      } catch (error) {
        // 55006: it became active again meanwhile; 42704: someone else dropped it.
        const code = (error as { code?: string }).code;
        if (code === "42704") return;
        if (code !== "55006") throw error;
      }
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Replication slot ${slotName} is still in use by pid ${state.activePid}: stop the connector streaming from it first`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Ends the walsenders streaming from the database's slots and drops the slots (so the database can be dropped). */
export async function dropSlotsOfDatabase(client: ClientBase, database: string): Promise<string[]> {
  const slots = await client.query<{ slot_name: string }>(
    "SELECT slot_name FROM pg_replication_slots WHERE database = $1",
    [database],
  );
  for (const { slot_name } of slots.rows) {
    await client.query(
      "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active",
      [slot_name],
    );
    await dropSlot(client, slot_name, 10_000);
  }
  return slots.rows.map((row) => row.slot_name);
}

/** pgoutput (protocol 1) message types: Begin, Commit, Insert; an Insert names its relation's OID next. */
const BEGIN = 0x42;
const COMMIT = 0x43;
const INSERT = 0x49;

export interface PendingTransaction {
  /** The 32-bit xid, as logical decoding and Debezium's offsets report it. */
  xid: number;
  /** The same transaction as the outbox's tx_id column holds it (epoch and xid). */
  xid8: string;
  /** How many outbox rows it inserted (0 for, say, a heartbeat). */
  outboxInserts: number;
  /** The LSN of its last change: a connector whose offset reached it has delivered the whole transaction. */
  lastChangeLsn: bigint;
}

/**
 * The transactions the slot would stream next, in commit order: those that committed after its confirmed
 * position. Peeks without consuming; the slot must not be in use.
 */
export async function peekTransactions(
  client: ClientBase,
  slotName: string,
  publicationName: string,
): Promise<PendingTransaction[]> {
  const outboxOid = Number(
    (await client.query<{ oid: string }>("SELECT 'public.outbox'::regclass::oid::text AS oid")).rows[0]?.oid,
  );
  const changes = await client.query<{ lsn: string; xid: string; data: Buffer }>(
    `SELECT (lsn - '0/0'::pg_lsn)::text AS lsn, xid::text AS xid, data
       FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2)`,
    [slotName, publicationName],
  );
  // The outbox stores xid8. Every transaction here started before the current snapshot's xmax, so its epoch is
  // xmax's, or the one before when the 32-bit counter wrapped in between.
  const xmax = BigInt(
    (await client.query<{ xmax: string }>("SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax"))
      .rows[0]?.xmax ?? "0",
  );
  const widen = (xid: number) => {
    const candidate = ((xmax >> 32n) << 32n) | BigInt(xid);
    return String(candidate >= xmax ? candidate - (1n << 32n) : candidate);
  };

  const transactions: PendingTransaction[] = [];
  let current: PendingTransaction | undefined;
  for (const { lsn, xid, data } of changes.rows) {
    const type = data[0];
    if (type === BEGIN) {
      current = { xid: Number(xid), xid8: widen(Number(xid)), outboxInserts: 0, lastChangeLsn: BigInt(lsn) };
      transactions.push(current);
    } else if (type !== COMMIT && current) {
      current.lastChangeLsn = BigInt(lsn);
      if (type === INSERT && data.readUInt32BE(1) === outboxOid) current.outboxInserts++;
    }
  }
  return transactions;
}

// Hands the outbox stream over between the polling relay and Debezium at a known position, without losing or
// re-ordering events: `npm run relay:switch -- debezium|polling`. Each direction is restartable: run it again
// after any failure and it finishes the handover from what the database records.
//
// polling -> Debezium (no duplicates):
//   1. Fence the polling relay: take its advisory lock, so none publishes (the caller stops its in-process
//      relay first; one in another process must stop, see debezium/README.md), and record mode=debezium.
//   2. Create the slot with an exported snapshot. The slot streams exactly the transactions that commit after
//      its position L; the snapshot sees exactly those committed before L.
//   3. Publish, in that snapshot, the outbox rows after the polling cursor: committed before L, not yet sent.
//   4. Start the connector on the slot: it streams everything committed after L.
//   Every row the polling relay had published committed before the fence, hence before L: it is in the
//   snapshot and at or before the cursor, so it is neither re-published (3) nor streamed (4).
//
// Debezium -> polling (duplicates only where a cursor cannot avoid them):
//   1. Stop the connector. What it delivered is now final: everything the slot's confirmed position F covers,
//      and on top of that whatever its last committed offset (which Connect stores in the same Kafka
//      transaction as the records) reaches.
//   2. Take a snapshot S, then peek at the slot: of the transactions that committed after F, in commit order,
//      those past the offset are the ones Debezium has not delivered. Together with those still running in S
//      (or not yet started), they are all at or above the cursor c = min(their xids, S's running xids, S.xmax).
//   3. Set the polling cursor to (c, 0) and mode=polling; drop the connector and the slot.
//   Every transaction below c had ended before S and was delivered. Those at or above c that Debezium had
//   delivered too are sent again, with the same event ids, after their first delivery: one aggregate's events
//   are in commit order (= xid order, see db/client.ts), so first deliveries stay in order. A cursor cannot
//   skip them: it only knows "everything after (xid, position)".
import { fileURLToPath } from "node:url";
import pg from "pg";
import { confirm, parseCommand, refuseUnconfirmable, yesOption } from "../cli/command.ts";
import { reportFailure } from "../cli/failure.ts";
import { loadEnv } from "../config/env.ts";
import { outboxRowsAfter } from "../db/outbox/outboxRowsAfter.ts";
import { loadRelayCheckpoint, type RelayCursor, saveRelayCheckpoint } from "../db/outbox/relayCheckpoint.ts";
import { POLLING_RELAY_NAME, relayLockHolder, tryRelayLock } from "../db/outbox/relayLock.ts";
import { type RelayMode, readRelayMode, writeRelayMode } from "../db/outbox/relayMode.ts";
import { relayTransactionalId } from "../db/outbox/relayTransactionalId.ts";
import {
  ensureConnectWorker,
  registerConnector,
  removeConnector,
  stopConnector,
} from "../debezium/connector.ts";
import { type ConnectorOptions, type DebeziumTarget, debeziumTarget } from "../debezium/connectorConfig.ts";
import { ConnectClient } from "../debezium/connectRest.ts";
import { beatForNewTask } from "../debezium/sql/heartbeat.ts";
import { preparePostgres } from "../debezium/sql/preparePostgres.ts";
import {
  createSlotExportingSnapshot,
  dropSlot,
  importSnapshot,
  keepThroughIdleWaits,
  peekTransactions,
  slotState,
} from "../debezium/sql/replicationSlot.ts";
import { isTopicName, topics } from "../events/index.ts";
import {
  type Admin,
  createKafka,
  createTransactionalProducer,
  type TransactionalProducer,
} from "../kafka/client.ts";
import { publishInByteBatches } from "../relay/publishBatch.ts";
import { readTopicMessageLimits } from "../relay/topicLimits.ts";
import { databaseUrlOf, ensureStack, localConnectUrl } from "../stack/index.ts";

/** The polling relay's stream and lock name (relay/relay.ts; `npm start` and `npm run relay` use it). */

export interface SwitchOptions {
  databaseUrl: string;
  /** The same database as the Connect worker reaches it, when that differs (a worker in a container). */
  connectDatabaseUrl?: string;
  kafkaBrokers: string[];
  connect: ConnectClient;
  log: (line: string) => void;
  /** How long to wait for a running polling relay to let go of its lock (default 10 minutes). */
  fenceTimeoutMs?: number;
  connectorOptions?: ConnectorOptions;
}

export interface DebeziumHandover {
  /** The slot's consistent point: the connector streams what commits after it. */
  slotPosition: string;
  /** Where the polling relay had got to. */
  pollingCursor: RelayCursor;
  /** Rows published by the handover itself (committed before the slot's position, after the cursor). */
  published: number;
  /** Nothing to hand over: Debezium was the relay already (its connector was only made sure to run). */
  alreadyDebezium: boolean;
}

export interface PollingHandover {
  /** The polling relay publishes what comes after this cursor. */
  pollingCursor: RelayCursor;
  /** The slot's confirmed position when the connector stopped: everything committed up to it was delivered. */
  confirmedFlushLsn: string | null;
  /** Transactions committed after that position, which the polling relay now sends. */
  undeliveredTransactions: number;
  alreadyPolling: boolean;
}

/** Makes Debezium the relay, handing over from the polling relay if it was the one (see the top of this file). */
export async function switchToDebezium(options: SwitchOptions): Promise<DebeziumHandover> {
  const target = debeziumTarget(options.databaseUrl, options.connectDatabaseUrl);
  const control = await switchSession(options.databaseUrl);
  try {
    await lockSwitch(control);
    await preparePostgres(control, target);

    const current = await readRelayMode(control);
    const slot = await slotState(control, target.slotName);
    if (current.mode === "debezium" && current.handover?.state === "done") {
      if (!slot) {
        throw new Error(
          `The relay mode is debezium but its replication slot ${target.slotName} is gone, and with it the position ` +
            "of the last delivered event. Find the last event consumers received and set the polling cursor " +
            "(relay_checkpoints) before it, then run: npm run relay:switch -- polling",
        );
      }
      await registerConnector(options.connect, target, options.kafkaBrokers, options.connectorOptions);
      await beatForNewTask(control, target.heartbeatTable);
      return {
        slotPosition: String(current.handover.slotPosition),
        pollingCursor: current.handover.pollingCursor as RelayCursor,
        published: 0,
        alreadyDebezium: true,
      };
    }

    await refuseMissingTopics(control, options);
    await fencePollingRelay(control, options);
    await writeRelayMode(control, "debezium", { state: "handing-over", startedAt: new Date().toISOString() });

    // Left over by an interrupted attempt: its slot and connector count for nothing, and the handover starts
    // again from the polling cursor, which that attempt moved past each Kafka transaction it committed (so
    // nothing it published is sent again).
    await removeConnector(options.connect, target.connectorName);
    await dropSlot(control, target.slotName);

    const pollingCursor = await loadRelayCheckpoint(control, POLLING_RELAY_NAME);
    options.log(
      `polling relay stopped at (${pollingCursor.txId}, ${pollingCursor.position}); creating slot ${target.slotName}`,
    );
    const exported = await createSlotExportingSnapshot(options.databaseUrl, target.slotName);
    let published: number;
    try {
      published = await publishCommittedBefore(options, exported.snapshotName, pollingCursor, (cursor) =>
        saveRelayCheckpoint(control, POLLING_RELAY_NAME, cursor),
      );
    } finally {
      await exported.release();
    }
    options.log(
      `published ${published} events committed before ${exported.consistentPoint}; starting the connector`,
    );

    await registerConnector(options.connect, target, options.kafkaBrokers, options.connectorOptions);
    await beatForNewTask(control, target.heartbeatTable);
    const handover = { slotPosition: exported.consistentPoint, pollingCursor, published };
    await writeRelayMode(control, "debezium", { state: "done", ...handover, at: new Date().toISOString() });
    options.log(
      `Debezium streams the outbox from ${exported.consistentPoint} (connector ${target.connectorName})`,
    );
    return { ...handover, alreadyDebezium: false };
  } catch (error) {
    throw becauseSessionEnded(error, control);
  } finally {
    // Ending the session releases both advisory locks.
    await control.end().catch(() => {});
  }
}

/** Makes the polling relay the relay, handing over from Debezium if it was the one (see the top of this file). */
export async function switchToPolling(
  options: Omit<SwitchOptions, "kafkaBrokers">,
): Promise<PollingHandover> {
  const target = debeziumTarget(options.databaseUrl, options.connectDatabaseUrl);
  const control = await switchSession(options.databaseUrl);
  try {
    await lockSwitch(control);
    const current = await readRelayMode(control);
    if (current.mode === "polling") {
      // A connector or slot left by an interrupted switch would stream duplicates or pin WAL.
      await removeConnector(options.connect, target.connectorName);
      await dropSlot(control, target.slotName);
      return {
        pollingCursor: await loadRelayCheckpoint(control, POLLING_RELAY_NAME),
        confirmedFlushLsn: null,
        undeliveredTransactions: 0,
        alreadyPolling: true,
      };
    }

    if (current.handover?.state !== "done") {
      // A switch to Debezium was interrupted. It never moved the polling cursor, so the polling relay picks up
      // from there; what that switch (or a connector it started) published is sent again, with the same ids.
      await removeConnector(options.connect, target.connectorName);
      await dropSlot(control, target.slotName);
      const pollingCursor = await loadRelayCheckpoint(control, POLLING_RELAY_NAME);
      await writeRelayMode(control, "polling", {
        state: "done",
        pollingCursor,
        interruptedSwitch: current.handover,
        at: new Date().toISOString(),
      });
      options.log(
        `an interrupted switch to Debezium was undone; polling resumes after (${pollingCursor.txId}, ${pollingCursor.position})`,
      );
      return { pollingCursor, confirmedFlushLsn: null, undeliveredTransactions: 0, alreadyPolling: false };
    }

    // No need to let it catch up first: whatever it has not delivered, the polling relay sends.
    const status = await options.connect.status(target.connectorName);
    let lastDelivered: DeliveredOffset | undefined;
    if (status) {
      await stopConnector(options.connect, target.connectorName);
      lastDelivered = deliveredOffset(await options.connect.offsets(target.connectorName));
    }
    // The task has stopped; its walsender may take a moment longer to release the slot.
    await waitForSlotRelease(control, target);

    const slot = await slotState(control, target.slotName);
    if (!slot) {
      throw new Error(
        `Replication slot ${target.slotName} is gone, and with it the position of the last delivered event: set ` +
          "the polling cursor (relay_checkpoints) by hand before the last event consumers received, then set " +
          "relay_mode to polling",
      );
    }
    const pollingCursor = await cursorAfterDelivered(control, target, lastDelivered);
    await control.query("BEGIN");
    await saveRelayCheckpoint(control, POLLING_RELAY_NAME, pollingCursor.cursor);
    await writeRelayMode(control, "polling", {
      state: "done",
      pollingCursor: pollingCursor.cursor,
      confirmedFlushLsn: slot.confirmedFlushLsn,
      undeliveredTransactions: pollingCursor.undelivered,
      at: new Date().toISOString(),
    });
    await control.query("COMMIT");

    await removeConnector(options.connect, target.connectorName);
    await dropSlot(control, target.slotName);
    options.log(
      `polling relay resumes after (${pollingCursor.cursor.txId}, 0); Debezium had confirmed up to ${slot.confirmedFlushLsn}`,
    );
    return {
      pollingCursor: pollingCursor.cursor,
      confirmedFlushLsn: slot.confirmedFlushLsn,
      undeliveredTransactions: pollingCursor.undelivered,
      alreadyPolling: false,
    };
  } catch (error) {
    throw becauseSessionEnded(error, control);
  } finally {
    await control.end().catch(() => {});
  }
}

/**
 * Says so when the relay asked for is the one in place already, found without starting anything (no Kafka client,
 * no Connect worker); null when the switch has work to do. In place: the polling relay, with no replication slot
 * left by an interrupted switch (that switch's connector is removed before its slot is dropped, and the connector
 * never creates a slot of its own, so no slot means nothing streams); or Debezium, its handover done, its slot
 * there and its connector and task running on the worker `connect` reaches (one that does not answer, or a
 * connector not running, leaves the switch to start and repair it). Read under the switch's lock: a switch under
 * way is waited for, not reported half done.
 */
export async function relayInPlace(
  wanted: RelayMode,
  options: { databaseUrl: string; connectDatabaseUrl?: string; connect: ConnectClient },
): Promise<string | null> {
  const target = debeziumTarget(options.databaseUrl, options.connectDatabaseUrl);
  const control = await switchSession(options.databaseUrl);
  try {
    await lockSwitch(control);
    const current = await readRelayMode(control);
    const slot = await slotState(control, target.slotName);
    if (wanted === "polling") {
      return current.mode === "polling" && !slot
        ? "the polling relay is the relay already: nothing to hand over, nothing started"
        : null;
    }
    if (current.mode !== "debezium" || current.handover?.state !== "done" || !slot) return null;
    const status = await options.connect.status(target.connectorName).catch(() => undefined);
    const running =
      status?.connector.state === "RUNNING" &&
      status.tasks.length > 0 &&
      status.tasks.every((task) => task.state === "RUNNING");
    return running
      ? `Debezium is the relay already (connector ${target.connectorName} running on slot ${target.slotName}): nothing to hand over, nothing started`
      : null;
  } finally {
    await control.end().catch(() => {});
  }
}

/** What ended each of the switch's sessions, as the server or the network said it (its `error` event). */
const sessionsEnded = new WeakMap<pg.Client, Error>();

/**
 * A session of the switch's own. It is held across waits (for the polling relay's lock, for the slot's release, for
 * Kafka to commit each transaction of the backlog), idle or idle in the snapshot's transaction: the server's idle
 * timeouts, set for sessions an application forgot, are off in it, as it ends itself. A role or database that sets
 * `idle_in_transaction_session_timeout` ended the backlog's reader midway, and the switch failed.
 */
async function switchSession(databaseUrl: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "outbox-relay-switch" });
  client.on("error", (error) => {
    if (!sessionsEnded.has(client)) sessionsEnded.set(client, error);
  });
  await client.connect();
  await keepThroughIdleWaits(client);
  return client;
}

/**
 * The error a failed step of the switch reports: what ended its session, when that is why (pg says only that the
 * client "is not queryable", or that the connection terminated), else the step's own.
 */
function becauseSessionEnded(error: unknown, session: pg.Client): unknown {
  return sessionsEnded.get(session) ?? error;
}

/** One switch at a time: a second one waits, then finds the work done. */
async function lockSwitch(control: pg.Client): Promise<void> {
  await control.query("SELECT pg_advisory_lock(hashtext('outbox-relay-switch'))");
}

/**
 * Takes the polling relay's leadership lock (relay/relay.ts) and keeps it for the rest of the handover: while
 * it is held no polling relay publishes, and the cursor in relay_checkpoints is final.
 */
async function fencePollingRelay(control: pg.Client, options: SwitchOptions): Promise<void> {
  const deadline = Date.now() + (options.fenceTimeoutMs ?? 10 * 60_000);
  let announced = false;
  for (;;) {
    if (await tryRelayLock(control)) return;
    const who = await relayLockHolder(control);
    if (Date.now() > deadline) {
      throw new Error(
        `The polling relay is still publishing (Postgres session ${who?.pid}, ${who?.application}): stop it ` +
          "(Ctrl-C on `npm run relay`; Ctrl-C on `npm start`, or restart it with RELAY_MODE=debezium), then switch again",
      );
    }
    if (!announced) {
      options.log(
        `waiting for the polling relay to stop (Postgres session ${who?.pid}, ${who?.application} from ${who?.client ?? "local"}): ` +
          "stop `npm run relay`, and stop `npm start` or restart it with RELAY_MODE=debezium",
      );
      announced = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Refuses the handover, before anything changes, while a topic it would publish to is missing from Kafka: one of
 * the catalog's event topics, or one that a row after the polling cursor names. Begun, the handover would stop
 * half way on Kafka's "This server does not host this topic-partition", leaving no relay publishing, and a
 * connector would wait on the topic for ever, RUNNING.
 */
async function refuseMissingTopics(control: pg.Client, options: SwitchOptions): Promise<void> {
  const cursor = await loadRelayCheckpoint(control, POLLING_RELAY_NAME);
  const backlog = await control.query<{ topic: string }>(
    "SELECT DISTINCT topic FROM outbox WHERE (tx_id, position) > ($1::xid8, $2::bigint)",
    [cursor.txId, cursor.position],
  );
  const wanted = new Set([
    ...topics.map((topic) => topic.name).filter((name) => isTopicName(name)),
    ...backlog.rows.map((row) => row.topic),
  ]);
  const admin = createKafka({ brokers: options.kafkaBrokers, clientId: "outbox-relay-switch" }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = [...wanted].filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      throw new Error(
        `Kafka has no topic ${missing.join(", ")}: create it (npm run topics), then switch again; nothing was changed`,
      );
    }
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Publishes the rows the exported snapshot sees after the cursor, in (tx_id, position) order, a page per transaction. */
/**
 * Publishes the snapshot's outbox rows after `after`, a Kafka transaction a thousand rows at a time, and moves the
 * polling cursor past each once it is committed (`committed`, under the fence): an attempt that fails midway
 * leaves the cursor after what it published, which a re-run then does not send again.
 */
async function publishCommittedBefore(
  options: SwitchOptions,
  snapshotName: string,
  after: RelayCursor,
  committed: (cursor: RelayCursor) => Promise<void>,
): Promise<number> {
  const reader = await switchSession(options.databaseUrl);
  let kafka: { producer: TransactionalProducer; admin: Admin } | undefined;
  let published = 0;
  try {
    await importSnapshot(reader, snapshotName);
    const transactionalId = await relayTransactionalId(reader, POLLING_RELAY_NAME);
    let cursor = after;
    for (;;) {
      const rows = await outboxRowsAfter(reader, cursor, 1000);
      if (rows.length === 0) break;
      if (!kafka) {
        const client = createKafka({ brokers: options.kafkaBrokers, clientId: "outbox-relay-switch" });
        // The polling relay's own transactional id: connecting fences a former leader still holding a batch.
        kafka = { producer: createTransactionalProducer(client, transactionalId), admin: client.admin() };
        await kafka.producer.connect();
        await kafka.admin.connect();
      }
      // Cut as the relay cuts its batches: a backlog of large events stays under each topic's max.message.bytes.
      const limits = await readTopicMessageLimits(kafka.admin, [...new Set(rows.map((row) => row.topic))]);
      await kafka.producer.transaction((transaction) => publishInByteBatches(transaction, rows, limits));
      published += rows.length;
      const last = rows[rows.length - 1];
      if (!last) break;
      cursor = { txId: last.txId, position: last.position };
      await committed(cursor);
    }
    await reader.query("COMMIT");
    return published;
  } catch (error) {
    throw becauseSessionEnded(error, reader);
  } finally {
    await kafka?.producer.disconnect().catch(() => {});
    await kafka?.admin.disconnect().catch(() => {});
    await reader.end().catch(() => {});
  }
}

async function waitForSlotRelease(control: pg.Client, target: DebeziumTarget): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const slot = await slotState(control, target.slotName);
    if (!slot?.active) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Replication slot ${target.slotName} is still streaming to pid ${slot.activePid} although connector ` +
          `${target.connectorName} is stopped: is another connector or worker using it?`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The last change a connector's committed offset covers: Debezium's 32-bit txId and processed LSN. */
interface DeliveredOffset {
  xid: number;
  lsn: bigint;
}

function deliveredOffset(
  offsets: Array<{ offset: Record<string, unknown> | null }>,
): DeliveredOffset | undefined {
  const offset = offsets[0]?.offset;
  const xid = offset?.txId;
  const lsn = offset?.lsn_proc ?? offset?.lsn;
  if (typeof xid !== "number" || typeof lsn !== "number") return undefined;
  return { xid, lsn: BigInt(lsn) };
}

/** The polling cursor that misses nothing Debezium did not deliver (the procedure at the top of this file). */
async function cursorAfterDelivered(
  control: pg.Client,
  target: DebeziumTarget,
  lastDelivered: DeliveredOffset | undefined,
): Promise<{ cursor: RelayCursor; undelivered: number }> {
  // The snapshot first, then the peek: a transaction that commits between the two is in the peek.
  const snapshot = (
    await control.query<{ snapshot: string }>("SELECT pg_current_snapshot()::text AS snapshot")
  ).rows[0]?.snapshot;
  const [, xmax = "0", running = ""] = (snapshot ?? "").split(":");
  const pending = await peekTransactions(control, target.slotName, target.publicationName);
  // The slot's confirmed position trails the offset: Debezium confirms a transaction to Postgres only with the
  // next one. Transactions up to the offset's, in commit order, were delivered (its own only if the offset
  // reached its last change).
  let firstUndelivered = 0;
  const offsetTransaction = lastDelivered ? pending.findIndex((tx) => tx.xid === lastDelivered.xid) : -1;
  if (lastDelivered && offsetTransaction >= 0) {
    const complete = (pending[offsetTransaction]?.lastChangeLsn ?? 0n) <= lastDelivered.lsn;
    firstUndelivered = complete ? offsetTransaction + 1 : offsetTransaction;
  }
  const undelivered = pending.slice(firstUndelivered).filter((tx) => tx.outboxInserts > 0);
  let oldest = BigInt(xmax);
  for (const xid of [...running.split(",").filter(Boolean), ...undelivered.map((tx) => tx.xid8)]) {
    if (BigInt(xid) < oldest) oldest = BigInt(xid);
  }
  return { cursor: { txId: oldest.toString(), position: "0" }, undelivered: undelivered.length };
}

/** `npm run relay:switch -- debezium|polling`: the same handover for the services the environment names. */
async function main(): Promise<void> {
  const { positionals, values, refuse } = parseCommand({
    usage: `usage: npm run relay:switch -- debezium|polling [--yes]
  hands the outbox stream over to Debezium or to the polling relay at a known position (restartable)
  --yes, -y   do not ask for confirmation (needed when not run from a terminal)`,
    options: yesOption,
    allowPositionals: true,
  });
  const [wanted, ...extra] = positionals;
  if (wanted !== "debezium" && wanted !== "polling") return refuse("debezium or polling?");
  if (extra.length > 0) refuse(`unexpected argument ${extra.join(" ")}`);
  const question = `Hand the outbox stream over to ${wanted === "debezium" ? "Debezium" : "the polling relay"}`;
  await refuseUnconfirmable(question, values.yes);
  // Before the question: a bad or misspelt variable is refused without asking first.
  const env = loadEnv();
  await confirm(question, values.yes);
  const say = (line: string) => console.error(`» ${line}`);
  const connectDatabaseUrl = process.env.CONNECT_DATABASE_URL || undefined;
  // Asked for the relay in place already, it starts nothing: no Kafka, no Connect worker.
  const inPlace = await relayInPlace(wanted, {
    databaseUrl: await databaseUrlOf(env, say),
    connectDatabaseUrl,
    connect: new ConnectClient(env.KAFKA_CONNECT_URL ?? localConnectUrl()),
  });
  if (inPlace) {
    console.log(
      JSON.stringify({ mode: wanted, [wanted === "polling" ? "alreadyPolling" : "alreadyDebezium"]: true }),
    );
    say(inPlace);
    return;
  }
  const stack = await ensureStack(env, say);
  // Debezium mode lives in the worker, so a worker started here keeps running after this command.
  const { connect } = await ensureConnectWorker(stack.kafkaBrokers, say);
  const common = {
    databaseUrl: stack.databaseUrl,
    connectDatabaseUrl,
    connect,
    log: say,
  };
  if (wanted === "debezium") {
    const result = await switchToDebezium({
      ...common,
      kafkaBrokers: stack.kafkaBrokers,
      connectorOptions: { compression: env.KAFKA_COMPRESSION },
    });
    console.log(JSON.stringify({ mode: "debezium", ...result }));
    if (!result.alreadyDebezium)
      say(
        "start npm start with RELAY_MODE=debezium from now on, and no npm run relay (it runs only the polling relay, and refuses RELAY_MODE=debezium)",
      );
  } else {
    const result = await switchToPolling(common);
    console.log(JSON.stringify({ mode: "polling", ...result }));
    say(
      "start the polling relay now: npm start (RELAY_MODE=polling), or npm run relay (beside a running npm start, with PORT=0: PORT is its own /health and /metrics)",
    );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await main();
  } catch (error) {
    process.exit(reportFailure(error, "relay:switch"));
  }
}

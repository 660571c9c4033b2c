// `npm run relay:rebase`: re-anchors the polling relay after its database was restored from a logical dump or
// moved to another cluster, where the outbox and the checkpoint carry transaction ids the server has not
// reached. It moves the server's transaction ids past the restored history, then sets the cursor after the
// last event Kafka already holds: nothing is lost, nothing Kafka has is sent again.

import { fileURLToPath } from "node:url";
import pg from "pg";
import { confirm, parseCommand, refuseUnconfirmable, yesOption } from "../cli/command.ts";
import { reportFailure } from "../cli/failure.ts";
import { loadEnv } from "../config/env.ts";
import {
  advanceTransactionIds,
  MAX_TRANSACTION_IDS_TO_ADVANCE,
  nextTransactionId,
} from "../db/outbox/advanceTransactionIds.ts";
import type { OutboxRecord } from "../db/outbox/pendingOutboxBatch.ts";
import {
  checkpointNames,
  loadRelayCheckpoint,
  type RelayCursor,
  START_OF_HISTORY,
  saveRelayCheckpoint,
} from "../db/outbox/relayCheckpoint.ts";
import { tryRelayLock } from "../db/outbox/relayLock.ts";
import { relayTransactionalId } from "../db/outbox/relayTransactionalId.ts";
import { countOfOrigin, type RowOrigin, rowsOfOrigin } from "../db/outbox/restoredHistory.ts";
import { topics as catalogTopics, isTopicName } from "../events/catalog.ts";
import {
  type Admin,
  createKafka,
  createTransactionalProducer,
  type TransactionalProducer,
} from "../kafka/client.ts";
import { databaseUrlOf, kafkaBrokersOf } from "../stack/index.ts";
import { lastEventIdsInKafka } from "./kafkaTail.ts";
import { publishInByteBatches } from "./publishBatch.ts";
import { readTopicMessageLimits } from "./topicLimits.ts";

export interface RebaseOptions {
  databaseUrl: string;
  kafkaBrokers: string[];
  /** The relay's name (its checkpoint and lock); `outbox` unless relays were started with another. */
  name?: string;
  log?: (line: string) => void;
  /** How long to try for the relay's lock: relays refusing to lead take it briefly, each second. */
  lockTimeoutMs?: number;
}

export interface RebasePlan {
  /** Whether the checkpoint or any outbox row is ahead of the server: otherwise there is nothing to do. */
  ahead: boolean;
  checkpoint: RelayCursor;
  /** The server's next transaction id now, and the one it must reach: past every restored row and the cursor. */
  nextTxId: string;
  requiredNextTxId: string;
  /** The newest outbox row among the last records Kafka holds, or null when none of them is in the outbox. */
  lastInKafka: RelayCursor | null;
  /** Restored events Kafka holds: up to the checkpoint or Kafka's last event, whichever is later. */
  kafkaHoldsUpTo: RelayCursor;
  /** What relay:rebase publishes itself: restored events after that point, then events written on this server. */
  restoredToPublish: number;
  writtenHereToPublish: number;
  /** Records at the end of Kafka whose event is not in this outbox (written after the dump was taken). */
  unknownInKafka: number;
}

const EVENT_TOPICS = catalogTopics.map((topic) => topic.name).filter(isTopicName);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The largest xid8: a checkpoint no server reaches, so relays refuse to lead while a rebase is under way. */
const REBASING = { txId: "18446744073709551615", position: "0" };
/** Where a rebase under way keeps the checkpoint it started from, so that running it again starts there too. */
const STARTED_FROM = ":rebase-started-from";
const startedFrom = (name: string) => `${name}${STARTED_FROM}`;

/** A name no relay has saved a checkpoint under (mistyped, most likely): there is nothing to re-anchor. */
export class UnknownRelay extends Error {
  constructor(
    readonly relayName: string,
    readonly relaysWithACheckpoint: readonly string[],
  ) {
    super(
      `no relay named ${JSON.stringify(relayName)} has a checkpoint; relays with one: ${relaysWithACheckpoint.join(", ") || "none"}`,
    );
    this.name = "UnknownRelay";
  }
}

/**
 * The relay's checkpoint. Unlike a relay starting for the first time, a rebase does not read a missing one as
 * the start of the history: that would find nothing ahead and report success for a relay that does not exist.
 */
async function checkpointOfRelay(client: pg.ClientBase, name: string): Promise<RelayCursor> {
  const relays = (await checkpointNames(client)).filter((saved) => !saved.endsWith(STARTED_FROM));
  if (!relays.includes(name)) throw new UnknownRelay(name, relays);
  return loadRelayCheckpoint(client, name);
}

/** Works out the re-anchoring without changing anything (`--dry-run` prints this). */
export async function planRebase(client: pg.ClientBase, options: RebaseOptions): Promise<RebasePlan> {
  const name = options.name ?? "outbox";
  let checkpoint = await checkpointOfRelay(client, name);
  // An interrupted rebase: the relays still refuse, and this one goes on from where that one started.
  const interrupted = checkpoint.txId === REBASING.txId;
  if (interrupted) checkpoint = await loadRelayCheckpoint(client, startedFrom(name));
  const next = await nextTransactionId(client);
  const newest = await client.query<{ txId: string }>(
    `SELECT tx_id::text AS "txId" FROM outbox ORDER BY tx_id DESC, position DESC LIMIT 1`,
  );
  const newestRow = newest.rows[0] ? BigInt(newest.rows[0].txId) : -1n;
  let required = BigInt(checkpoint.txId) + 1n;
  if (newestRow + 1n > required) required = newestRow + 1n;
  const ahead = interrupted || required > next;
  if (required < next) required = next;

  const kafka = createKafka({ brokers: options.kafkaBrokers, clientId: "relay-rebase" });
  const eventIds = [...new Set(await lastEventIdsInKafka(kafka, EVENT_TOPICS))].filter((id) => UUID.test(id));
  const found = await client.query<RelayCursor & { count: number }>(
    `SELECT tx_id::text AS "txId", position::text AS "position", count(*) OVER ()::int AS count
       FROM outbox WHERE event_id = ANY($1::uuid[]) ORDER BY outbox.tx_id DESC, outbox.position DESC LIMIT 1`,
    [eventIds],
  );
  const lastInKafka = found.rows[0] ? { txId: found.rows[0].txId, position: found.rows[0].position } : null;
  const kafkaHoldsUpTo = lastInKafka && isAfter(lastInKafka, checkpoint) ? lastInKafka : checkpoint;
  const below = required.toString();
  return {
    ahead,
    checkpoint,
    nextTxId: next.toString(),
    requiredNextTxId: below,
    lastInKafka,
    kafkaHoldsUpTo,
    restoredToPublish: ahead ? await countOfOrigin(client, "restored", kafkaHoldsUpTo, below) : 0,
    writtenHereToPublish: ahead ? await countOfOrigin(client, "written here", START_OF_HISTORY, below) : 0,
    unknownInKafka: eventIds.length - (found.rows[0]?.count ?? 0),
  };
}

/**
 * Holds the relay's lock (no relay publishes meanwhile) and re-anchors:
 * 1. the checkpoint becomes a value no server reaches, so relays keep refusing until the end, even if this
 *    command is interrupted (run it again: it starts from the same checkpoint);
 * 2. the server's transaction ids move past the restored history (empty transactions), and every transaction
 *    that took an id below that point ends: the rows below it are final;
 * 3. it publishes what Kafka lacks below that point, in the order it happened: the restored events after
 *    Kafka's last one, then the events written on this server since the restore (their transaction ids are
 *    this server's, smaller than the restored ones, so the relay's order would put them first, or skip them);
 * 4. the checkpoint is set after the newest of those rows; rows written from now on come after it.
 * Refuses when the gap is too large to close by running transactions (that needs pg_resetwal, named).
 */
export async function rebaseRelay(options: RebaseOptions): Promise<RebasePlan> {
  const name = options.name ?? "outbox";
  const log = options.log ?? (() => {});
  const client = new pg.Client({ connectionString: options.databaseUrl, application_name: "relay-rebase" });
  await client.connect();
  try {
    await takeRelayLock(client, name, options.lockTimeoutMs ?? 30_000);
    const plan = await planRebase(client, options);
    if (!plan.ahead) return plan;
    const gap = BigInt(plan.requiredNextTxId) - BigInt(plan.nextTxId);
    if (gap > MAX_TRANSACTION_IDS_TO_ADVANCE) throw new Error(tooFarMessage(plan));

    await saveRelayCheckpoint(client, startedFrom(name), plan.checkpoint);
    await saveRelayCheckpoint(client, name, REBASING);
    log(`advancing the server's transaction ids by ${gap} (to ${plan.requiredNextTxId})`);
    await advanceTransactionIds(client, BigInt(plan.requiredNextTxId), (next) =>
      log(`  next transaction id ${next}`),
    );
    await untilTransactionsEndBelow(client, plan.requiredNextTxId, log);

    // The relay stream's own transactional id: connecting fences a former leader still publishing (one that
    // lost its session, so the lock, with a batch in flight), as a new leader does.
    const producer = await connectProducer(options.kafkaBrokers, await relayTransactionalId(client, name));
    let last: RelayCursor | null = null;
    try {
      for (const [origin, after] of [
        ["restored", plan.kafkaHoldsUpTo],
        ["written here", START_OF_HISTORY],
      ] as const) {
        const sent = await publishOrigin(client, producer, origin, after, plan.requiredNextTxId);
        log(`published ${sent.count} ${origin} events`);
      }
      const newest = await client.query<RelayCursor>(
        `SELECT tx_id::text AS "txId", position::text AS "position" FROM outbox
          WHERE tx_id < $1::xid8 ORDER BY outbox.tx_id DESC, outbox.position DESC LIMIT 1`,
        [plan.requiredNextTxId],
      );
      last = newest.rows[0] ?? plan.kafkaHoldsUpTo;
    } finally {
      await producer.producer.disconnect().catch(() => {});
      await producer.admin.disconnect().catch(() => {});
    }
    await saveRelayCheckpoint(client, name, last);
    await client.query("DELETE FROM relay_checkpoints WHERE name = $1", [startedFrom(name)]);
    log(`the relay resumes after (${last.txId}, ${last.position})`);
    return plan;
  } finally {
    await client.end();
  }
}

/**
 * Waits until no transaction of this database that took its id below `txId` is still open: only those can still
 * add outbox rows below it. (The server-wide snapshot horizon would also wait for other databases' sessions.)
 * Ids compare as 32-bit xids modulo 2^32, which is exact while they are less than 2^31 apart.
 */
async function untilTransactionsEndBelow(client: pg.ClientBase, txId: string, log: (line: string) => void) {
  const below = (BigInt(txId) % 2n ** 32n).toString();
  let announced = false;
  for (;;) {
    const result = await client.query<{ open: number }>(
      `SELECT count(*)::int AS open FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL
          AND ((backend_xid::text::bigint - $1::bigint + 4294967296) % 4294967296) >= 2147483648`,
      [below],
    );
    if (result.rows[0]?.open === 0) return;
    if (!announced) log("waiting for this database's transactions begun before that point to end");
    announced = true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface RebaseProducer {
  producer: TransactionalProducer;
  admin: Admin;
}

async function connectProducer(brokers: string[], transactionalId: string): Promise<RebaseProducer> {
  const kafka = createKafka({ brokers, clientId: "relay-rebase" });
  const session = { producer: createTransactionalProducer(kafka, transactionalId), admin: kafka.admin() };
  await session.producer.connect();
  await session.admin.connect();
  return session;
}

/** Publishes the rows of one origin after `after` and below `belowTxId`, in order: a page per transaction. */
async function publishOrigin(
  client: pg.ClientBase,
  kafka: RebaseProducer,
  origin: RowOrigin,
  after: RelayCursor,
  belowTxId: string,
): Promise<{ count: number }> {
  let count = 0;
  for (let cursor = after; ; ) {
    const rows = await rowsOfOrigin(client, origin, cursor, belowTxId, 1000);
    if (rows.length === 0) return { count };
    const limits = await readTopicMessageLimits(kafka.admin, [...new Set(rows.map((row) => row.topic))]);
    await kafka.producer.transaction((transaction) => publishInByteBatches(transaction, rows, limits));
    count += rows.length;
    const last = rows.at(-1) as OutboxRecord;
    cursor = { txId: last.txId, position: last.position };
  }
}

async function takeRelayLock(client: pg.ClientBase, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await tryRelayLock(client, name)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `A relay named "${name}" is publishing (it holds the relay lock): its cursor is not ahead, or stop it first`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function isAfter(a: RelayCursor, b: RelayCursor): boolean {
  const [ax, bx] = [BigInt(a.txId), BigInt(b.txId)];
  return ax !== bx ? ax > bx : BigInt(a.position) > BigInt(b.position);
}

function tooFarMessage(plan: RebasePlan): string {
  const target = BigInt(plan.requiredNextTxId);
  return (
    `The server's next transaction id (${plan.nextTxId}) is more than ${MAX_TRANSACTION_IDS_TO_ADVANCE} behind ` +
    `the restored history (${plan.requiredNextTxId}). Stop the cluster and set its next transaction id with ` +
    `pg_resetwal -e ${target >> 32n} -x ${target & 0xffffffffn} <data directory> (see the pg_resetwal manual ` +
    "on -x and pg_xact), start it, and run relay:rebase again."
  );
}

const USAGE = `usage: npm run relay:rebase -- [--dry-run | --yes] [--name <relay>]

Re-anchors the polling relay after its database was restored from a logical dump or moved to another cluster
(the relay then refuses to lead: "ahead of this server's transaction ids", outbox_relay_cursor_ahead 1).
It takes the relay's lock, moves the server's transaction ids past every restored outbox row and the
checkpoint (running empty transactions), publishes what Kafka lacks in the order it happened (restored events
after the last one Kafka holds, then events written on this server since the restore) and sets the checkpoint
after them. The relay then resumes; nothing is lost and nothing Kafka holds is sent again.

  --dry-run      print the plan, change nothing
  --yes, -y      do not ask for confirmation (needed when stdin is not a terminal)
  --name <name>  the relay's name (default: outbox)

DATABASE_URL and KAFKA_BROKERS name the services (default: the project's local ones).`;

async function main(): Promise<void> {
  const { values, refuse } = parseCommand({
    usage: USAGE,
    options: {
      "dry-run": { type: "boolean", default: false },
      name: { type: "string", default: "outbox" },
      ...yesOption,
    },
  });
  if (values.name.trim() === "") refuse("--name: give the relay's name (default: outbox)");
  if (values.yes && values["dry-run"]) refuse("--yes goes with a real run: a dry run asks nothing");
  const env = loadEnv();
  const options: RebaseOptions = {
    databaseUrl: await databaseUrlOf(env, (line) => console.error(line)),
    kafkaBrokers: kafkaBrokersOf(env),
    name: values.name,
    log: (line) => console.error(`» ${line}`),
  };
  await rebaseCommand(options, { dryRun: values["dry-run"], confirmed: values.yes }).catch((error) => {
    if (error instanceof UnknownRelay) refuse(`--name: ${error.message}`);
    throw error;
  });
}

/** Plans, asks and re-anchors as the command line says: --dry-run only plans, --yes does not ask. */
async function rebaseCommand(
  options: RebaseOptions,
  { dryRun, confirmed }: { dryRun: boolean; confirmed: boolean },
): Promise<void> {
  // Refused before anything is read when no one can be asked (a script without --yes).
  if (!dryRun && !confirmed) await refuseUnconfirmable("Re-anchor the relay's cursor", false);
  const client = new pg.Client({ connectionString: options.databaseUrl, application_name: "relay-rebase" });
  await client.connect();
  const plan = await planRebase(client, options).finally(() => client.end());
  if (!confirmed) console.log(JSON.stringify(plan, null, 2));
  if (dryRun) return;
  // Nothing to do is said at once, without waiting for the lock a running relay holds.
  if (!plan.ahead) return options.log?.(NOTHING_TO_DO);
  if (!confirmed) await confirm("Re-anchor the relay as planned above", false);
  // Planned again under the relay's lock: what it prints is what it did.
  const done = await rebaseRelay(options);
  if (confirmed) console.log(JSON.stringify(done, null, 2));
  if (!done.ahead) options.log?.(NOTHING_TO_DO);
}

const NOTHING_TO_DO =
  "nothing to re-anchor: the checkpoint and the outbox are behind the server's transaction ids";

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await main();
  } catch (error) {
    process.exit(reportFailure(error, "relay:rebase"));
  }
}

// The polling relay: streams committed outbox rows to Kafka in (tx_id, position) order, one Kafka transaction
// per batch (in sends kept under each topic's max.message.bytes); the next poll saves the cursor a committed
// batch moved, in the same statement.
// One process at a time publishes (a Postgres advisory lock); others stand by. The transactional id, one per
// relay stream (db/outbox/relayTransactionalId.ts), fences a former leader that lost its lock mid-batch.
import pg from "pg";
import type { Registry } from "prom-client";
import {
  type OutboxRecord,
  pendingOutboxBatch,
  preparePendingOutboxSession,
} from "../db/outbox/pendingOutboxBatch.ts";
import { pendingOutboxStats } from "../db/outbox/pendingOutboxStats.ts";
import { loadRelayCheckpoint, type RelayCursor, saveRelayCheckpoint } from "../db/outbox/relayCheckpoint.ts";
import { POLLING_RELAY_NAME, releaseRelayLock, tryRelayLock } from "../db/outbox/relayLock.ts";
import { readRelayMode } from "../db/outbox/relayMode.ts";
import { relayTransactionalId } from "../db/outbox/relayTransactionalId.ts";
import { CursorAheadOfServer, type ServerPosition, serverPosition } from "../db/outbox/serverPosition.ts";
import {
  type Admin,
  type Compression,
  createKafka,
  createTransactionalProducer,
  kafkaSecurityFailure,
  type TransactionalProducer,
} from "../kafka/client.ts";
import { nonRetriableKafkaError, producerFenced, unknownTopic } from "../kafka/errors.ts";
import type { ReadinessCheck } from "../observability/health.ts";
import type { Logger } from "../observability/logger.ts";
import { exponentialBackoff, sleep } from "../retry/backoff.ts";
import { firstByteBatch } from "./byteBatches.ts";
import { createRelayMetrics, type RelayMetrics } from "./metrics.ts";
import { publishBatch } from "./publishBatch.ts";
import { missingTopics, readTopicMessageLimits } from "./topicLimits.ts";

export interface RelayOptions {
  databaseUrl: string;
  kafkaBrokers: string[];
  log: Logger;
  registry: Registry;
  /** Names the checkpoint and the lock: relays with the same name share one stream. */
  name?: string;
  batchSize?: number;
  /** How long an idle relay waits for a NOTIFY before looking anyway; also the longest wait for held-back rows. */
  idlePollMs?: number;
  /** How often a standby relay tries to take over. */
  standbyRetryMs?: number;
  /** How often a send Kafka refused for good (a record too large, say) is tried again: a fixed config resumes. */
  stalledRetryMs?: number;
  /** How long a batch's transaction may go on before the relay asks whether its topics exist (and as often after). */
  topicCheckMs?: number;
  /** How record batches are compressed (KAFKA_COMPRESSION); unset, the default of config/env.ts. */
  compression?: Compression;
  /** Called after each batch Kafka has acknowledged (the cursor has moved past it; the next poll saves it). */
  onPublished?: (rows: readonly OutboxRecord[]) => void;
  /** Awaited with a batch sent to Kafka and not yet committed: tests hold a batch in flight with it. */
  beforeCommit?: (rows: readonly OutboxRecord[]) => Promise<void>;
}

class Stopped extends Error {}

/** Another producer took over this relay's transactional id: this relay no longer leads. */
class Fenced extends Error {}

/** Between attempts to reach Postgres or Kafka again: up to 200 ms after the first failure, growing to 5 s. */
const retryBackoff = exponentialBackoff({ baseMs: 200, capMs: 5_000 });

/** A producer and an admin client (for the topics' limits) on one Kafka connection, replaced after a failure. */
interface KafkaSession {
  producer: TransactionalProducer;
  admin: Admin;
  /** max.message.bytes per topic, read once per session. */
  limits: Map<string, number>;
}

/** Why the relay publishes nothing although it could lead: shown by /health/ready and the log. */
type Stall = { kind: "refused"; kafkaError: string } | { kind: "cursorAhead"; error: CursorAheadOfServer };

export class OutboxRelay {
  readonly name: string;
  private readonly batchSize: number;
  private readonly idlePollMs: number;
  private readonly standbyRetryMs: number;
  private readonly stalledRetryMs: number;
  private readonly topicCheckMs: number;
  private readonly log: Logger;
  private readonly metrics: RelayMetrics;
  private readonly statsPool: pg.Pool;
  private cursor: RelayCursor | null = null;
  private stopping = false;
  private running: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** Whether the wait under way ends at a commit's notification (pause). */
  private wakesOnCommit = false;
  private notified = false;
  private isLeader = false;
  private polls = 0;
  private leaderConnectionError: Error | null = null;
  private stall: Stall | null = null;
  private transactionalId: string | null = null;

  constructor(private readonly options: RelayOptions) {
    this.name = options.name ?? POLLING_RELAY_NAME;
    this.batchSize = options.batchSize ?? 1000;
    this.idlePollMs = options.idlePollMs ?? 200;
    this.standbyRetryMs = options.standbyRetryMs ?? 1000;
    this.stalledRetryMs = options.stalledRetryMs ?? 30_000;
    this.topicCheckMs = options.topicCheckMs ?? 5_000;
    this.log = options.log.child({ component: "relay", relay: this.name });
    this.statsPool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: 1,
      application_name: "relay-stats",
    });
    this.statsPool.on("error", () => {});
    // A checked-out client has no pool listener: a session ended under it (a failover, pg_terminate_backend) was
    // an uncaught 'error' that stopped the platform. The failed query is what reports it.
    this.statsPool.on("connect", (client) => client.on("error", () => {}));
    this.metrics = createRelayMetrics(options.registry, async () =>
      this.cursor && this.isLeader
        ? pendingOutboxStats(this.statsPool, this.cursor)
        : { pending: 0, oldestAgeSeconds: 0 },
    );
  }

  get leader(): boolean {
    return this.isLeader;
  }

  /** Why the relay publishes nothing, when it is stuck on something a person must fix. */
  get stalled(): string | null {
    if (!this.stall) return null;
    return this.stall.kind === "refused"
      ? `Kafka refuses the next events for good (${this.stall.kafkaError}); see the relay's log for their ids`
      : this.stall.error.message;
  }

  /** For /health/ready of the process that runs the relay: down while it is stalled. */
  get readiness(): ReadinessCheck {
    return {
      name: "relay",
      check: async () => {
        const stalled = this.stalled;
        if (stalled) throw new Error(`stalled: ${stalled}`);
      },
    };
  }

  /** How many times this relay has queried the outbox as the leader (status pages and tests watch it). */
  get pollCount(): number {
    return this.polls;
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Finishes the batch in flight (or abandons it, unacknowledged, while Kafka is down), then releases the lock. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeUp();
    await this.running;
    await this.statsPool.end();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        await this.leadWhileHoldingLock();
        failures = 0;
      } catch (error) {
        if (error instanceof Stopped) break;
        if (error instanceof Fenced) {
          // Its session (and so the lock) is gone already, or was just ended: contend again, as a standby would.
          this.log.warn(
            { err: error.cause },
            "another publisher took over this relay's Kafka transactional id (its producer was fenced); " +
              "the batch in flight was not published by this relay",
          );
          await this.pause(this.standbyRetryMs);
          continue;
        }
        if (error instanceof CursorAheadOfServer) {
          // Not leading releases the lock, so `npm run relay:rebase` can take it; the check repeats until then.
          this.markCursorAhead(error);
          await this.pause(this.standbyRetryMs);
          continue;
        }
        failures++;
        this.log.warn({ err: error, failures }, "relay lost its Postgres connection; reconnecting");
        await this.pause(retryBackoff.delayMs(failures));
      }
    }
  }

  private async leadWhileHoldingLock(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      application_name: `outbox-relay:${this.name}`,
      keepAlive: true,
    });
    this.leaderConnectionError = null;
    client.on("error", (error) => {
      this.leaderConnectionError = error;
      this.wakeUp();
    });
    await client.connect();
    let kafka: KafkaSession | null = null;
    try {
      await this.acquireLock(client);
      client.on("notification", () => {
        this.notified = true;
        if (this.wakesOnCommit) this.wakeUp();
      });
      await client.query("LISTEN outbox");
      await preparePendingOutboxSession(client);
      this.transactionalId ??= await relayTransactionalId(client, this.name);
      // From here this session writes only checkpoints, and it does not wait for each to reach the disk: a
      // checkpoint lost in a crash of Postgres moves the cursor back, and the relay sends those batches again
      // (with their event ids, which consumers deduplicate), as after a crash of its own before the checkpoint.
      // Waiting for the flush put a WAL fsync, behind every writer's, into each cycle between two batches.
      await client.query("SET synchronous_commit = off");
      // Taking over the transactional id fences a former leader still publishing (one that lost its session,
      // and so the lock, with a batch in flight): from here on only this relay can add to the stream, and the
      // checkpoint read next cannot be overtaken by a late publish.
      kafka = await this.connectUntilReady();
      this.cursor = await loadRelayCheckpoint(client, this.name);
      await this.refuseFutureHistory(client, this.cursor);
      this.isLeader = true;
      this.metrics.leader.set(1);
      this.log.info({ cursor: this.cursor }, "relay is the active publisher");

      const phase = (name: string) => this.metrics.cyclePhase.startTimer({ phase: name });
      let heldBackPolls = 0;
      // The cursor moved by the last published batch is saved by the next poll, in the same statement.
      let unsaved = false;
      while (!this.stopping) {
        this.assertLeadership();
        const polled = phase("poll");
        const saving = unsaved ? { name: this.name } : undefined;
        const rows = await pendingOutboxBatch(client, this.cursor, this.batchSize, saving);
        unsaved = false;
        this.polls++;
        if (rows.length === 0) {
          // Nothing to publish is also what a history from the server's future looks like: check it is not.
          const position = await this.refuseFutureHistory(client, this.cursor);
          if (position.heldBack)
            await this.pause(this.heldBackWaitMs(++heldBackPolls), { untilCommit: true });
          else {
            heldBackPolls = 0;
            await this.waitForCommits();
          }
          continue;
        }
        heldBackPolls = 0;
        polled();
        const published = phase("publish");
        kafka = await this.publishUntilCommitted(kafka, rows);
        published();
        // Only a committed transaction moves the cursor: a crash before the next poll saves it re-sends the
        // batch (with its event ids, which consumers deduplicate).
        const last = rows.at(-1) as OutboxRecord;
        this.cursor = { txId: last.txId, position: last.position };
        unsaved = true;
        this.recordPublished(rows);
        this.options.onPublished?.(rows);
      }
      if (unsaved) await saveRelayCheckpoint(client, this.name, this.cursor);
    } finally {
      this.isLeader = false;
      this.metrics.leader.set(0);
      await disconnect(kafka);
      // Ending the session releases the advisory lock for a standby.
      await client.end().catch(() => {});
    }
  }

  private async acquireLock(client: pg.Client): Promise<void> {
    let announced = false;
    while (!this.stopping) {
      if (await tryRelayLock(client, this.name)) {
        // relay:switch handed the stream to Debezium (handover/switch.ts): stand by until it is handed back.
        if ((await readRelayMode(client)).mode === "polling") return;
        await releaseRelayLock(client, this.name);
        if (!announced) this.log.info("the outbox is relayed by Debezium (relay:switch); standing by");
        announced = true;
        await this.pause(this.standbyRetryMs);
        continue;
      }
      if (!announced) this.log.info("another relay is publishing; standing by");
      announced = true;
      await this.pause(this.standbyRetryMs);
    }
    throw new Stopped();
  }

  /**
   * Publishes the rows in one Kafka transaction, in successive sends that each keep a topic's records under its
   * max.message.bytes, retrying until the transaction commits. A failed attempt is aborted (read_committed
   * consumers never see it); if its commit was in fact done, the retry sends the batch again with the same event
   * ids, which is the at-least-once contract. A send Kafka refuses for good is never skipped: the relay reports
   * itself stalled and tries again every stalledRetryMs, re-reading the limits, so that fixing the topic's
   * config (or the broker's) resumes it where it stopped. A fenced producer is not retried: see Fenced.
   */
  private async publishUntilCommitted(
    session: KafkaSession | null,
    rows: OutboxRecord[],
  ): Promise<KafkaSession> {
    for (let attempt = 1; ; attempt++) {
      let current = session;
      let send: OutboxRecord[] = [];
      try {
        current ??= await this.connectKafka();
        const limits = await this.topicLimits(current, rows);
        const transaction = current.producer.transaction(async (transaction) => {
          for (let remaining = rows; remaining.length > 0; remaining = remaining.slice(send.length)) {
            send = firstByteBatch(remaining, limits);
            await publishBatch(transaction, send);
          }
          send = [];
          await this.options.beforeCommit?.(rows);
        });
        await this.untilCommitted(current, rows, transaction);
        this.clearStall("refused");
        return current;
      } catch (error) {
        if (error instanceof Stopped) {
          await disconnect(current);
          throw error;
        }
        if (producerFenced(error)) {
          this.metrics.fenced.inc();
          await disconnect(current);
          throw new Fenced("fenced", { cause: error });
        }
        // Reading the limits of a topic that does not exist fails as retriable: it would be retried for ever.
        const missing =
          current && unknownTopic(error) ? await missingTopics(current.admin, topicsOf(rows)) : [];
        const refused = nonRetriableKafkaError(error) ?? (missing.length > 0 ? noSuchTopic(missing) : null);
        this.metrics.publishErrors.inc({ retriable: refused ? "false" : "true" });
        const insecure = refused ? undefined : kafkaSecurityFailure(error);
        if (refused && missing.length > 0) this.markRefused(refused, rowsOf(rows, missing));
        else if (refused) this.markRefused(refused, send.length > 0 ? send : rows.slice(0, 1));
        // Not retriable in kafkajs' sense, yet a rotated password or certificate fixes it without a restart.
        else if (insecure) this.log.error({ attempt, events: rows.length }, insecure);
        else
          this.log.warn(
            { err: error, attempt, events: rows.length },
            "publishing to Kafka failed; will retry",
          );
        // A fresh producer (new producer id) after a failure: the old one's sequence state is suspect.
        await disconnect(current);
        session = null;
        if (this.stopping) throw new Stopped();
        this.assertLeadership();
        await this.pause(refused ? this.stalledRetryMs : retryBackoff.delayMs(attempt));
        if (this.stopping) throw new Stopped();
        this.assertLeadership();
      }
    }
  }

  /**
   * Waits for the batch's transaction. A send to a topic deleted while the relay runs never fails: kafkajs'
   * transactional producer asks for the topic's metadata again and again (its retries never stop), and the relay
   * would wait for ever without a word. So while the transaction goes on, the relay asks every topicCheckMs
   * whether its topics exist, and reports itself stalled, naming those that do not; the send goes on, and
   * re-creating the topic resumes it. Stopping then abandons the batch (unacknowledged, it is sent again).
   */
  private async untilCommitted(
    session: KafkaSession,
    rows: readonly OutboxRecord[],
    transaction: Promise<void>,
  ): Promise<void> {
    let settled = false;
    const committed = transaction.finally(() => {
      settled = true;
      this.wakeUp();
    });
    let checkedAt = Date.now();
    for (;;) {
      await Promise.race([committed, this.pause(this.topicCheckMs)]);
      if (settled) return committed;
      // A NOTIFY wakes the pause too, once per commit under load: the topics are asked about only when
      // topicCheckMs has passed (or the relay is stopping), not at every wake-up.
      if (!this.stopping && Date.now() - checkedAt < this.topicCheckMs) continue;
      checkedAt = Date.now();
      const missing = await missingTopics(session.admin, topicsOf(rows));
      // Stopping waits for the batch as before, unless it waits on a topic that is not there.
      if (missing.length === 0 && this.stopping) return committed;
      if (missing.length === 0) continue;
      this.metrics.publishErrors.inc({ retriable: "false" });
      this.markRefused(noSuchTopic(missing), rowsOf(rows, missing));
      if (this.stopping) {
        committed.catch(() => {});
        throw new Stopped();
      }
    }
  }

  /** Connects to Kafka as this relay's transactional producer, retrying while Kafka cannot be reached. */
  private async connectUntilReady(): Promise<KafkaSession> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.connectKafka();
      } catch (error) {
        if (producerFenced(error)) throw new Fenced("fenced", { cause: error });
        // Credentials or trust refused: the error names the variables to fix (a rotated secret resumes it).
        const insecure = kafkaSecurityFailure(error);
        if (insecure) this.log.error({ attempt }, insecure);
        else this.log.warn({ err: error, attempt }, "connecting to Kafka failed; will retry");
        await this.pause(retryBackoff.delayMs(attempt));
        if (this.stopping) throw new Stopped();
        this.assertLeadership();
      }
    }
  }

  private async connectKafka(): Promise<KafkaSession> {
    const kafka = createKafka({ brokers: this.options.kafkaBrokers, clientId: `outbox-relay-${this.name}` });
    const session: KafkaSession = {
      producer: createTransactionalProducer(
        kafka,
        this.transactionalId ?? `outbox-relay-${this.name}`,
        this.options.compression,
      ),
      admin: kafka.admin(),
      limits: new Map(),
    };
    try {
      await session.producer.connect();
      await session.admin.connect();
      return session;
    } catch (error) {
      await disconnect(session);
      throw error;
    }
  }

  private async topicLimits(
    session: KafkaSession,
    rows: readonly OutboxRecord[],
  ): Promise<Map<string, number>> {
    const unknown = [...new Set(rows.map((row) => row.topic))].filter((topic) => !session.limits.has(topic));
    for (const [topic, limit] of await readTopicMessageLimits(session.admin, unknown)) {
      session.limits.set(topic, limit);
    }
    return session.limits;
  }

  /** Event ids and topics only: payloads carry sealed personal data, and ids are what a person looks up. */
  private markRefused(kafkaError: string, rows: readonly OutboxRecord[]): void {
    const first = this.stall?.kind !== "refused";
    this.stall = { kind: "refused", kafkaError };
    this.metrics.stalled.set(1);
    const details = {
      kafkaError,
      eventIds: rows.slice(0, 20).map((row) => row.eventId),
      topics: [...new Set(rows.map((row) => row.topic))],
      events: rows.length,
      retryInMs: this.stalledRetryMs,
    };
    if (first)
      this.log.error(
        details,
        "Kafka refuses these events for good; the relay is stalled until that is fixed",
      );
    else this.log.warn(details, "Kafka still refuses these events; the relay is stalled");
  }

  private markCursorAhead(error: CursorAheadOfServer): void {
    if (this.stall?.kind !== "cursorAhead")
      this.log.error({ cursor: error.cursor, ...error.position }, error.message);
    this.stall = { kind: "cursorAhead", error };
    this.metrics.cursorAhead.set(1);
  }

  private clearStall(kind: Stall["kind"]): void {
    if (this.stall?.kind !== kind) return;
    this.log.info({ was: this.stalled }, "the relay is no longer stalled");
    this.stall = null;
    if (kind === "refused") this.metrics.stalled.set(0);
    else this.metrics.cursorAhead.set(0);
  }

  private async refuseFutureHistory(client: pg.Client, cursor: RelayCursor): Promise<ServerPosition> {
    const position = await serverPosition(client, cursor);
    if (position.ahead) throw new CursorAheadOfServer(cursor, position);
    this.clearStall("cursorAhead");
    return position;
  }

  /**
   * Committed rows wait behind a transaction still running, whose end may come with no NOTIFY (it writes no
   * outbox row): the relay looks again after 5 ms, then 10, 20, ... up to idlePollMs, so that a consumer's
   * transaction of a few milliseconds delays them by about that much, not by a whole idle poll, and one left
   * open for minutes costs no more queries than an idle relay makes.
   */
  private heldBackWaitMs(polls: number): number {
    return Math.min(this.idlePollMs, 5 * 2 ** (polls - 1));
  }

  /** The lock lives in the leader's session: once that connection is gone, another relay may be publishing. */
  private assertLeadership(): void {
    if (this.leaderConnectionError) throw this.leaderConnectionError;
  }

  private recordPublished(rows: OutboxRecord[]): void {
    const now = Date.now();
    this.metrics.batchSize.observe(rows.length);
    const perTopic = new Map<string, number>();
    for (const row of rows) {
      perTopic.set(row.topic, (perTopic.get(row.topic) ?? 0) + 1);
      this.metrics.commitToAck.observe((now - row.createdAtMs) / 1000);
    }
    for (const [topic, count] of perTopic) this.metrics.published.inc({ topic }, count);
  }

  private async waitForCommits(): Promise<void> {
    if (this.notified) {
      this.notified = false;
      return;
    }
    await this.pause(this.idlePollMs, { untilCommit: true });
    this.notified = false;
  }

  /**
   * Waits `ms`, or less when stopped, when the leader's connection fails, or when the transaction awaited ends;
   * `untilCommit`, also when a transaction commits outbox rows. A wait after a failure is not cut short by
   * commits: a relay stalled on a refused batch, or backing off from a broker that is down, would otherwise try
   * again at every write.
   */
  private async pause(ms: number, { untilCommit = false } = {}): Promise<void> {
    if (this.stopping) return;
    const wake = new AbortController();
    this.wake = () => wake.abort();
    this.wakesOnCommit = untilCommit;
    await sleep(ms, wake.signal);
    this.wake = null;
    this.wakesOnCommit = false;
  }

  private wakeUp(): void {
    this.wake?.();
  }
}

function topicsOf(rows: readonly OutboxRecord[]): string[] {
  return [...new Set(rows.map((row) => row.topic))];
}

function rowsOf(rows: readonly OutboxRecord[], topics: readonly string[]): OutboxRecord[] {
  return rows.filter((row) => topics.includes(row.topic));
}

/** The stall's reason when a topic of the batch does not exist: only creating it (`npm run topics`) fixes that. */
function noSuchTopic(topics: readonly string[]): string {
  return `UNKNOWN_TOPIC_OR_PARTITION: no topic ${topics.join(", ")} in the cluster`;
}

async function disconnect(session: KafkaSession | null): Promise<void> {
  await session?.producer.disconnect().catch(() => {});
  await session?.admin.disconnect().catch(() => {});
}

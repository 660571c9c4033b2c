// The polling relay: streams committed outbox rows to Kafka in (tx_id, position) order, checkpointing after
// each acknowledged batch. One process at a time publishes (a Postgres advisory lock); others stand by.
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import type { Registry } from "prom-client";
import { createIdempotentProducer, createKafka, type Producer } from "../kafka/client.ts";
import type { Logger } from "../observability/logger.ts";
import { createRelayMetrics, type RelayMetrics } from "./metrics.ts";
import { publishBatch } from "./publishBatch.ts";
import {
  type OutboxRecord,
  pendingOutboxBatch,
  preparePendingOutboxSession,
} from "./sql/pendingOutboxBatch.ts";
import { pendingOutboxStats } from "./sql/pendingOutboxStats.ts";
import { loadRelayCheckpoint, type RelayCursor, saveRelayCheckpoint } from "./sql/relayCheckpoint.ts";
import { readRelayMode } from "./sql/relayMode.ts";

export interface RelayOptions {
  databaseUrl: string;
  kafkaBrokers: string[];
  log: Logger;
  registry: Registry;
  /** Names the checkpoint and the lock: relays with the same name share one stream. */
  name?: string;
  batchSize?: number;
  /** How long to wait for a NOTIFY before looking anyway (rows held back by an older open transaction). */
  idlePollMs?: number;
  /** How often a standby relay tries to take over. */
  standbyRetryMs?: number;
  /** Called after each batch Kafka has acknowledged (and the cursor has moved past it). */
  onPublished?: (rows: readonly OutboxRecord[]) => void;
}

class Stopped extends Error {}

export class OutboxRelay {
  readonly name: string;
  private readonly batchSize: number;
  private readonly idlePollMs: number;
  private readonly standbyRetryMs: number;
  private readonly log: Logger;
  private readonly metrics: RelayMetrics;
  private readonly statsPool: pg.Pool;
  private cursor: RelayCursor | null = null;
  private stopping = false;
  private running: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private notified = false;
  private isLeader = false;
  private polls = 0;
  private leaderConnectionError: Error | null = null;

  constructor(private readonly options: RelayOptions) {
    this.name = options.name ?? "outbox";
    this.batchSize = options.batchSize ?? 1000;
    this.idlePollMs = options.idlePollMs ?? 200;
    this.standbyRetryMs = options.standbyRetryMs ?? 1000;
    this.log = options.log.child({ component: "relay", relay: this.name });
    this.statsPool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: 1,
      application_name: "relay-stats",
    });
    this.statsPool.on("error", () => {});
    this.metrics = createRelayMetrics(options.registry, async () =>
      this.cursor && this.isLeader
        ? pendingOutboxStats(this.statsPool, this.cursor)
        : { pending: 0, oldestAgeSeconds: 0 },
    );
  }

  get leader(): boolean {
    return this.isLeader;
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
        failures++;
        this.log.warn({ err: error, failures }, "relay lost its Postgres connection; reconnecting");
        await this.pause(backoffMs(failures));
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
    let producer: Producer | null = null;
    try {
      await this.acquireLock(client);
      client.on("notification", () => {
        this.notified = true;
        this.wakeUp();
      });
      await client.query("LISTEN outbox");
      await preparePendingOutboxSession(client);
      this.cursor = await loadRelayCheckpoint(client, this.name);
      this.isLeader = true;
      this.metrics.leader.set(1);
      this.log.info({ cursor: this.cursor }, "relay is the active publisher");

      while (!this.stopping) {
        this.assertLeadership();
        const rows = await pendingOutboxBatch(client, this.cursor, this.batchSize);
        this.polls++;
        if (rows.length === 0) {
          await this.waitForCommits();
          continue;
        }
        producer = await this.publishUntilAcknowledged(producer, rows);
        const last = rows[rows.length - 1] as OutboxRecord;
        this.cursor = { txId: last.txId, position: last.position };
        await saveRelayCheckpoint(client, this.name, this.cursor);
        this.recordPublished(rows);
        this.options.onPublished?.(rows);
      }
    } finally {
      this.isLeader = false;
      this.metrics.leader.set(0);
      await producer?.disconnect().catch(() => {});
      // Ending the session releases the advisory lock for a standby.
      await client.end().catch(() => {});
    }
  }

  private async acquireLock(client: pg.Client): Promise<void> {
    let announced = false;
    while (!this.stopping) {
      const result = await client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_lock(hashtext('outbox-relay'), hashtext($1)) AS locked",
        [this.name],
      );
      if (result.rows[0]?.locked) {
        // relay:switch handed the stream to Debezium (relay/switch.ts): stand by until it is handed back.
        if ((await readRelayMode(client)).mode === "polling") return;
        await client.query("SELECT pg_advisory_unlock(hashtext('outbox-relay'), hashtext($1))", [this.name]);
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
   * Retries one batch until Kafka acknowledges all of it. A failed attempt may have written part of the
   * batch; the retry sends it again with the same event ids, which is the at-least-once contract.
   */
  private async publishUntilAcknowledged(producer: Producer | null, rows: OutboxRecord[]): Promise<Producer> {
    for (let attempt = 1; ; attempt++) {
      let current = producer;
      try {
        if (!current) {
          current = createIdempotentProducer(
            createKafka({ brokers: this.options.kafkaBrokers, clientId: `outbox-relay-${this.name}` }),
          );
          await current.connect();
        }
        await publishBatch(current, rows);
        return current;
      } catch (error) {
        this.metrics.publishErrors.inc();
        this.log.warn({ err: error, attempt, events: rows.length }, "publishing to Kafka failed; will retry");
        // A fresh producer (new producer id) after a failure: the old one's sequence state is suspect.
        await current?.disconnect().catch(() => {});
        producer = null;
        if (this.stopping) throw new Stopped();
        this.assertLeadership();
        await this.pause(backoffMs(attempt));
        if (this.stopping) throw new Stopped();
        this.assertLeadership();
      }
    }
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
    await this.pause(this.idlePollMs);
    this.notified = false;
  }

  private async pause(ms: number): Promise<void> {
    if (this.stopping) return;
    const controller = new AbortController();
    const woken = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    await Promise.race([sleep(ms, undefined, { signal: controller.signal }).catch(() => {}), woken]);
    controller.abort();
    this.wake = null;
  }

  private wakeUp(): void {
    this.wake?.();
  }
}

/** Exponential backoff with full jitter, from 100 ms up to 5 s. */
function backoffMs(attempt: number): number {
  return Math.random() * Math.min(5_000, 100 * 2 ** attempt);
}

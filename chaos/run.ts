// The chaos run itself (see chaos/main.ts for what it does and its ports): starts the services, the platform and
// the load, injects the faults of the profile one after the other, then reads everything back and reports.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { Registry } from "prom-client";
import { printTable } from "../bench/table.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { debeziumTarget } from "../debezium/connectorConfig.ts";
import { ConnectClient } from "../debezium/connectRest.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { isTopicName, topics } from "../events/catalog.ts";
import { type Admin, createKafka } from "../kafka/client.ts";
import { createLogger } from "../observability/logger.ts";
import { OutboxRelay } from "../relay/relay.ts";
import {
  connectClusterFromEnv,
  kafkaClusterFromEnv,
  kafkaNodeId,
  killConnectWorker,
  killKafkaNode,
  startConnect,
  startConnectWorker,
  startKafka,
  startKafkaNode,
  startPostgres,
  stopConnect,
  stopKafka,
  stopPostgres,
} from "../stack/index.ts";
import { type ChaosProcess, spawnPlatform, spawnRelay } from "./processes.ts";
import { readBack, watchArrivals } from "./readBack.ts";
import { type CommittedEvent, chaosFailed, chaosFindings, type FaultWindow } from "./report.ts";
import { startWriteLoad } from "./writeLoad.ts";

type Mode = "polling" | "debezium";

interface Profile {
  warmupMs: number;
  brokerDownMs: number;
  relayKills: number;
  betweenRelayKillsMs: number;
  postgresDownMs: number;
  connectDownMs: number;
  settleMs: number;
  writesPerSecond: number;
}

const profiles: Record<"full" | "ci", Profile> = {
  full: {
    warmupMs: 20_000,
    brokerDownMs: 45_000,
    relayKills: 4,
    betweenRelayKillsMs: 8_000,
    postgresDownMs: 10_000,
    connectDownMs: 45_000,
    settleMs: 15_000,
    writesPerSecond: 40,
  },
  ci: {
    warmupMs: 8_000,
    brokerDownMs: 12_000,
    relayKills: 2,
    betweenRelayKillsMs: 6_000,
    postgresDownMs: 4_000,
    connectDownMs: 12_000,
    settleMs: 8_000,
    writesPerSecond: 25,
  },
};

const say = (line: string) => console.error(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runChaos(options: {
  mode: Mode;
  profile: "full" | "ci";
  apiPort: number;
}): Promise<number> {
  const plan = profiles[options.profile];
  const started = Date.now();
  const kafkaCluster = kafkaClusterFromEnv();
  if (kafkaCluster.brokerCount < 3)
    say(`KAFKA_BROKER_COUNT=${kafkaCluster.brokerCount}: the broker kill is skipped`);
  const postgres = await startPostgres(say);
  const kafka = await startKafka(say);
  const connect = options.mode === "debezium" ? await startConnect(kafka.brokers, say) : null;
  const children: ChaosProcess[] = [];
  let zombie: OutboxRelay | null = null;
  try {
    const databaseUrl = await freshDatabase(postgres.databaseUrl, options.mode);
    await migrateDatabase(databaseUrl);
    const kafkaClient = createKafka({ brokers: kafka.brokers, clientId: "chaos" });
    const admin = kafkaClient.admin();
    await admin.connect();
    // Just after a start, a node's metadata may not list every broker yet: applying the topics waits for it.
    for (let attempt = 1; ; attempt++) {
      try {
        await applyTopics(admin, { log: { info: () => {}, warn: say } });
        break;
      } catch (error) {
        if (attempt >= 15) throw error;
        await sleep(2_000);
      }
    }
    const eventTopics = topics.map((topic) => topic.name).filter(isTopicName);
    const startOffsets = new Map<string, Map<number, bigint>>();
    for (const topic of eventTopics) startOffsets.set(topic, await endOffsets(admin, topic));
    const arrivals = await watchArrivals(kafkaClient, eventTopics);
    say(
      `database ${new URL(databaseUrl).pathname.slice(1)}; Kafka ${kafka.brokers.join(",")}; mode ${options.mode}`,
    );

    const childEnv = {
      DATABASE_URL: databaseUrl,
      KAFKA_BROKERS: kafka.brokers.join(","),
      LOG_LEVEL: "warn",
    };
    const platform = spawnPlatform(options.apiPort, {
      ...childEnv,
      RELAY_MODE: options.mode === "debezium" ? "debezium" : "off",
    });
    children.push(platform);
    const relays: ChaosProcess[] = [];
    if (options.mode === "polling") {
      // npm run relay refuses any RELAY_MODE but polling: the chaos run's own environment may hold another.
      for (const port of [options.apiPort + 1, options.apiPort + 2])
        relays.push(spawnRelay(port, { ...childEnv, RELAY_MODE: "polling" }));
      children.push(...relays);
    }
    await platform.ready;
    await Promise.all(relays.map((relay) => relay.ready));
    say("platform and relays up");

    const load = await startWriteLoad(`http://127.0.0.1:${options.apiPort}`, plan.writesPerSecond);
    await sleep(plan.warmupMs);
    const faults: FaultWindow[] = [];
    const record = async (name: string, fault: () => Promise<string>) => {
      const injectedAtMs = Date.now();
      say(`fault: ${name}`);
      let injected = true;
      const note = await fault().catch((error: Error) => {
        injected = false;
        return `failed to inject: ${error.message}`;
      });
      faults.push({ name, injectedAtMs, endedAtMs: Date.now(), note, injected });
      say(`  ${note}`);
      await sleep(plan.settleMs);
    };

    if (kafkaCluster.brokerCount >= 3) {
      await record("SIGKILL of the leader broker of patient-events/0, then its restart", async () => {
        const metadata = await admin.fetchTopicMetadata({ topics: ["patient-events"] });
        const leader = metadata.topics[0]?.partitions.find((p) => p.partitionId === 0)?.leader;
        const index = Array.from({ length: kafkaCluster.brokerCount }, (_, i) => i).find(
          (i) => kafkaNodeId(i) === leader,
        );
        if (index === undefined) throw new Error(`no local node is leader ${leader}`);
        await killKafkaNode(index, kafkaCluster);
        await sleep(plan.brokerDownMs);
        await startKafkaNode(index, kafkaCluster);
        return `node ${leader} down ${plan.brokerDownMs / 1000} s`;
      });
    }

    if (options.mode === "polling") {
      for (let kill = 1; kill <= plan.relayKills; kill++) {
        await record(`SIGKILL of the leading relay (${kill}/${plan.relayKills})`, async () => {
          const index = await leaderIndex(relays);
          if (index === undefined) throw new Error("no relay leads");
          const victim = relays[index] as ChaosProcess;
          victim.child.kill("SIGKILL");
          await victim.exited;
          // Two relays run again at once: the survivor leads, the new one stands by.
          const replacement = spawnRelay(victim.port, childEnv);
          relays[index] = replacement;
          children.push(replacement);
          await replacement.ready;
          await sleep(plan.betweenRelayKillsMs);
          return `pid ${victim.child.pid} killed; relay on port ${victim.port} restarted`;
        });
      }
    } else {
      await record(
        "SIGKILL of the Connect worker running the connector's task, then its restart",
        async () => {
          const connectCluster = connectClusterFromEnv();
          const status = await new ConnectClient(connect?.url as string).status(
            debeziumTarget(databaseUrl).connectorName,
          );
          const workerPort = Number(status?.tasks[0]?.worker_id.split(":").at(-1));
          if (!Number.isInteger(workerPort)) throw new Error(`no task is running: ${JSON.stringify(status)}`);
          const index = workerPort - connectCluster.basePort;
          await killConnectWorker(index, connectCluster);
          await sleep(plan.connectDownMs);
          await startConnectWorker(index, kafka.brokers, connectCluster);
          return `worker on port ${workerPort} down ${plan.connectDownMs / 1000} s`;
        },
      );
    }

    await record("Postgres restart (fast shutdown)", async () => {
      if (!postgres.startedByUs)
        throw new Error("this run did not start the Postgres: it is not ours to stop");
      await stopPostgres();
      await sleep(plan.postgresDownMs);
      await startPostgres();
      return `down ${plan.postgresDownMs / 1000} s`;
    });

    let zombieFenced: boolean | null = null;
    if (options.mode === "polling") {
      await record("zombie relay: leader's session cut with a batch in flight", async () => {
        const registry = new Registry();
        let release: () => void = () => {};
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        let holding: (() => void) | null = null;
        const held = new Promise<void>((resolve) => {
          holding = resolve;
        });
        zombie = new OutboxRelay({
          databaseUrl,
          kafkaBrokers: kafka.brokers,
          log: createLogger({ level: "silent" }),
          registry,
          standbyRetryMs: 100,
          beforeCommit: async () => {
            if (!holding) return;
            holding();
            holding = null;
            await released;
          },
        });
        zombie.start();
        try {
          // Made leader by killing the leading process until this one wins the lock (it retries fastest).
          for (let attempt = 0; attempt < 6 && !zombie.leader; attempt++) {
            const index = await leaderIndex(relays);
            if (index !== undefined) {
              const victim = relays[index] as ChaosProcess;
              victim.child.kill("SIGKILL");
              await victim.exited;
              relays[index] = spawnRelay(victim.port, childEnv);
              children.push(relays[index] as ChaosProcess);
            }
            await sleep(1_500);
          }
          if (!zombie.leader) throw new Error("the in-process relay never took the lead");
          // Its batch comes from the write load: none within 30 s means the platform committed nothing meanwhile.
          const holds = await Promise.race([held.then(() => true), sleep(30_000).then(() => false)]);
          if (!holds)
            throw new Error("no batch reached the zombie within 30 s: no write was committed meanwhile");
          const cut = await terminateLockHolder(databaseUrl);
          // A relay process takes over (fencing the zombie's producer) and publishes past the held batch.
          const successor = await leaderIndex(relays, 60);
          await sleep(2_000);
          release();
          const fenced = async () =>
            (await registry.getSingleMetric("outbox_relay_fenced_total")?.get())?.values[0]?.value ?? 0;
          for (let waited = 0; waited < 20 && (await fenced()) === 0; waited++) await sleep(500);
          zombieFenced = (await fenced()) === 1;
          if (successor === undefined) throw new Error("no relay process took over from the zombie");
          return `session cut (${cut} backend); the zombie's late commit was ${zombieFenced ? "fenced" : "NOT fenced"}`;
        } finally {
          // Whatever happened, the zombie's held batch (if any) goes on, and it stops before the next phase.
          release();
          await zombie.stop();
          zombie = null;
        }
      });
    }

    const writes = await load.stop();
    say(`load stopped: ${writes.ok} writes answered 2xx, ${writes.failed} failed or refused`);
    // The platform's own consumers go on appending events after the load: stopped first, the outbox read
    // next is the whole committed history (the relays keep running and publish what remains).
    await platform.stop();
    const committed = await committedEvents(databaseUrl);
    const wanted = new Set(committed.map((event) => event.eventId));
    const drainedBy = Date.now() + 180_000;
    while (Date.now() < drainedBy && [...wanted].some((id) => !arrivals.visibleAtMs.has(id)))
      await sleep(500);
    await arrivals.stop();
    const ends = new Map<string, Map<number, bigint>>();
    for (const topic of eventTopics) ends.set(topic, await endOffsets(admin, topic));
    await admin.disconnect();
    const records = await readBack(kafkaClient, startOffsets, ends);
    const findings = chaosFindings(committed, records, arrivals.visibleAtMs, faults);

    const seconds = (ms: number | null) => (ms === null ? "n/a" : `${(ms / 1000).toFixed(1)} s`);
    printTable(
      `chaos, ${options.mode} relay, profile ${options.profile}, ${kafkaCluster.brokerCount} brokers, ` +
        `${Math.round((Date.now() - started) / 1000)} s`,
      [
        [
          "events committed (outbox rows)",
          String(findings.committed),
          `from ${writes.ok} HTTP writes answered 2xx (${writes.failed} refused or failed), and the consumers`,
        ],
        ["events lost", String(findings.lost.length), findings.lost.slice(0, 3).join(" ")],
        ["phantom events", String(findings.phantoms.length), findings.phantoms.slice(0, 3).join(" ")],
        [
          "per-key reorderings",
          String(findings.reorderedKeys.length),
          findings.reorderedKeys.slice(0, 3).join(" "),
        ],
        [
          "duplicates",
          String(findings.duplicates),
          `${findings.duplicatesByteIdentical} byte-identical, ${findings.duplicates - findings.duplicatesByteIdentical} not`,
        ],
        ...(zombieFenced === null ? [] : [["zombie relay fenced", zombieFenced ? "yes" : "NO", ""]]),
      ],
    );
    if (writes.failures.size > 0) {
      const at = (ms: number) => new Date(ms).toISOString().slice(11, 19);
      printTable(
        "HTTP writes refused or failed",
        [...writes.failures]
          .sort(([, a], [, b]) => b.count - a.count)
          .slice(0, 10)
          .map(([answer, { count, firstAtMs, lastAtMs }]) => [
            answer,
            String(count),
            `${at(firstAtMs)}–${at(lastAtMs)}`,
          ]),
        ["answer", "writes", "first–last (UTC)"],
      );
    }
    printTable(
      "faults",
      findings.faults.map((fault) => [
        fault.name,
        seconds(fault.longestDelayMs),
        seconds(fault.recoveryMs),
        fault.note,
      ]),
      ["fault", "longest commit-to-visible", "recovery", "note"],
    );
    return chaosFailed(findings) || zombieFenced === false ? 1 : 0;
  } finally {
    await (zombie as OutboxRelay | null)?.stop().catch(() => {});
    await Promise.all(children.map((child) => child.stop()));
    if (connect?.startedByUs) await stopConnect();
    if (kafka.startedByUs) await stopKafka();
    if (postgres.startedByUs) await stopPostgres();
  }
}

/** A database of its own for each run, so the committed history is exactly this run's. */
async function freshDatabase(serverDatabaseUrl: string, mode: Mode): Promise<string> {
  const name = `chaos_${mode}_${randomUUID().slice(0, 8)}`;
  const client = new pg.Client({ connectionString: serverDatabaseUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverDatabaseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** In commit order: ORDER BY names the table's columns (a bare `position` is the text column of the SELECT list). */
async function committedEvents(databaseUrl: string): Promise<CommittedEvent[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{
      eventId: string;
      topic: string;
      key: string;
      value: string;
      txId: string;
      position: string;
      createdAtMs: string;
    }>(
      `SELECT event_id::text AS "eventId", topic, message_key AS key, payload::text AS value,
              tx_id::text AS "txId", position::text AS position,
              (extract(epoch FROM created_at) * 1000)::bigint::text AS "createdAtMs"
         FROM outbox ORDER BY outbox.tx_id, outbox.position`,
    );
    return rows.map((row, index) => ({
      eventId: row.eventId,
      topic: row.topic,
      key: row.key,
      value: row.value,
      order: BigInt(index),
      createdAtMs: Number(row.createdAtMs),
    }));
  } finally {
    await client.end();
  }
}

/** Each partition's end (read_committed), retried while leaders move (just after topics changed, a node back). */
async function endOffsets(admin: Admin, topic: string): Promise<Map<number, bigint>> {
  for (let attempt = 1; ; attempt++) {
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return new Map(offsets.map(({ partition, high }) => [partition, BigInt(high)]));
    } catch (error) {
      if (attempt >= 30) throw error;
      await sleep(1_000);
    }
  }
}

/** Which relay process leads now, by its /relay/status. */
async function leaderIndex(relays: readonly ChaosProcess[], attempts = 20): Promise<number | undefined> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    for (const [index, relay] of relays.entries()) {
      const status = await fetch(`http://127.0.0.1:${relay.port}/relay/status`)
        .then((response) => response.json() as Promise<{ leader: boolean }>)
        .catch(() => ({ leader: false }));
      if (status.leader) return index;
    }
    await sleep(500);
  }
  return undefined;
}

/** Ends the session that holds the relay lock, as a network cut or a failover would. */
async function terminateLockHolder(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query(
      `SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a
        WHERE a.datname = current_database() AND a.application_name = 'outbox-relay:outbox'
          AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)`,
    );
    return result.rowCount ?? 0;
  } finally {
    await client.end();
  }
}

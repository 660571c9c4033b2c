// Which relay runs and how it is doing: the connector's and its task's state, the slot's lag in bytes, or the
// polling relay's cursor, backlog and leader. `npm run relay:status` prints it and fails when something is broken
// (in the polling mode: no relay holds the lead, or the oldest pending event has waited over a minute);
// `debeziumReadinessCheck` puts the same verdict into /health/ready.
import { fileURLToPath } from "node:url";
import pg from "pg";
import { parseCommand } from "../cli/command.ts";
import { reportFailure } from "../cli/failure.ts";
import { loadEnv } from "../config/env.ts";
import { pendingOutboxStats } from "../db/outbox/pendingOutboxStats.ts";
import { loadRelayCheckpoint, type RelayCursor } from "../db/outbox/relayCheckpoint.ts";
import { POLLING_RELAY_NAME, type RelayLockHolder, relayLockHolder } from "../db/outbox/relayLock.ts";
import { type RelayMode, readRelayMode } from "../db/outbox/relayMode.ts";
import { isTopicName, topics } from "../events/index.ts";
import { createKafka } from "../kafka/client.ts";
import { localConnectUrl } from "../stack/connect.ts";
import { localKafkaBrokers } from "../stack/kafka.ts";
import { localDatabaseUrl } from "../stack/postgres.ts";
import { DEFAULT_HEARTBEAT_INTERVAL_MS, debeziumTarget } from "./connectorConfig.ts";
import { ConnectClient, type ConnectorState } from "./connectRest.ts";
import { heartbeatSilenceSeconds } from "./sql/heartbeat.ts";
import { type SlotState, slotState } from "./sql/replicationSlot.ts";

export interface RelayStatus {
  mode: RelayMode;
  handover: Record<string, unknown> | null;
  debezium?: {
    connector: string;
    /** MISSING: not registered on the worker; UNREACHABLE: the worker does not answer. */
    connectorState: ConnectorState | "MISSING" | "UNREACHABLE";
    taskState: ConnectorState | "NONE" | "UNKNOWN";
    /** Connect's stack trace of a FAILED connector or task. */
    trace?: string;
    /**
     * Seconds since the task's last heartbeat (or its walsender's start, when later); null when it never beat.
     * More than HEARTBEAT_MISSED_BEATS intervals: the task is dead or stuck, whatever Connect says.
     */
    heartbeatSilenceSeconds: number | null;
    slot: SlotState | null;
  };
  polling?: {
    cursor: RelayCursor;
    pending: number;
    oldestAgeSeconds: number;
    /** The session holding the polling relay's lock, the one relay that publishes; null: none does. */
    leader: RelayLockHolder | null;
  };
  /** What is wrong, one sentence each with what to do; empty when the active relay is healthy. */
  problems: string[];
}

/**
 * Heartbeat intervals without a heartbeat after which a RUNNING task counts as dead (debezium/sql/heartbeat.ts):
 * one missed beat can be a slow poll or a busy database; three are not.
 */
export const HEARTBEAT_MISSED_BEATS = 3;

/**
 * Seconds the oldest event not yet published may wait before the polling relay counts as not publishing, as
 * the OutboxOldestPendingEventOld alert counts them: under load a batch waits a few hundred milliseconds.
 */
export const PENDING_EVENT_MAX_AGE_SECONDS = 60;

export async function relayStatus(options: {
  databaseUrl: string;
  connect: ConnectClient;
  connectDatabaseUrl?: string;
  /** Given, the catalog's event topics are looked for there (missingEventTopics). */
  kafkaBrokers?: string[];
  /** PENDING_EVENT_MAX_AGE_SECONDS unless given (a test's shorter wait). */
  pendingEventMaxAgeSeconds?: number;
}): Promise<RelayStatus> {
  const maxAgeSeconds = options.pendingEventMaxAgeSeconds ?? PENDING_EVENT_MAX_AGE_SECONDS;
  const client = new pg.Client({ connectionString: options.databaseUrl, application_name: "relay-status" });
  client.on("error", () => {});
  await client.connect();
  try {
    const { mode, handover } = await readRelayMode(client);
    const target = debeziumTarget(options.databaseUrl, options.connectDatabaseUrl);
    const slot = (await slotState(client, target.slotName)) ?? null;
    const problems: string[] = [];

    if (mode === "polling") {
      const cursor = await loadRelayCheckpoint(client, POLLING_RELAY_NAME);
      const backlog = await pendingOutboxStats(client, cursor);
      const leader = await relayLockHolder(client);
      if (!leader) {
        problems.push(
          "no polling relay publishes: no session holds the relay lock in this database, so events stay in the " +
            "outbox; start one (npm start, or npm run relay)",
        );
      } else if (backlog.oldestAgeSeconds > maxAgeSeconds) {
        problems.push(
          `the oldest event not yet published has waited ${Math.round(backlog.oldestAgeSeconds)} s (more than ` +
            `${maxAgeSeconds}): the relay holding the lock (Postgres session ${leader.pid}, ` +
            `${leader.application ?? "unknown application"}) publishes nothing or falls behind, or a transaction ` +
            "open that long holds the events after it back (pg_stat_activity); its log and outbox_relay_stalled say which",
        );
      }
      if (slot) {
        problems.push(
          `replication slot ${target.slotName} exists while the polling relay runs: it pins WAL; ` +
            "npm run relay:switch -- polling removes it",
        );
      }
      return { mode, handover, polling: { cursor, ...backlog, leader }, problems };
    }

    let connectorState: NonNullable<RelayStatus["debezium"]>["connectorState"] = "UNREACHABLE";
    let taskState: NonNullable<RelayStatus["debezium"]>["taskState"] = "UNKNOWN";
    let trace: string | undefined;
    let heartbeatIntervalMs = DEFAULT_HEARTBEAT_INTERVAL_MS;
    try {
      const status = await options.connect.status(target.connectorName);
      connectorState = status?.connector.state ?? "MISSING";
      const task = status?.tasks[0];
      taskState = task?.state ?? "NONE";
      trace = status?.connector.trace ?? task?.trace;
      const configured = Number(
        (await options.connect.config(target.connectorName))?.["heartbeat.interval.ms"],
      );
      if (configured > 0) heartbeatIntervalMs = configured;
    } catch {
      // UNREACHABLE stays (or, the status read, the default heartbeat interval).
    }
    const silence = (await heartbeatSilenceSeconds(client, target.heartbeatTable, target.slotName)) ?? null;
    // First, as the likelier cause of what the connector's state says: its task fails, or waits, on a Kafka
    // that does not answer.
    const kafka = options.kafkaBrokers ? await eventTopicsOnKafka(options.kafkaBrokers) : { missing: [] };
    if ("unreachable" in kafka) {
      problems.push(
        `Kafka cannot be reached at the brokers KAFKA_BROKERS names (${kafka.unreachable}): Debezium's task delivers nothing`,
      );
    }
    if (handover?.state === "handing-over") {
      problems.push(
        `the handover to Debezium begun at ${String(handover.startedAt)} has not finished (a switch still running, ` +
          "or one stopped half way): npm run relay:switch -- debezium finishes it",
      );
    }
    if (connectorState === "UNREACHABLE") {
      problems.push(
        `Kafka Connect at ${options.connect.url} does not answer: start it (npm run stack:up -- connect)`,
      );
    } else if (connectorState === "MISSING") {
      problems.push(
        `connector ${target.connectorName} is not registered: npm run relay:switch -- debezium registers it`,
      );
    } else if (connectorState === "FAILED" || taskState === "FAILED") {
      problems.push(
        `connector ${target.connectorName} has FAILED (${rootCause(trace)}): fix the cause, then ` +
          `POST ${options.connect.url}/connectors/${target.connectorName}/restart?includeTasks=true&onlyFailed=true`,
      );
    } else if (connectorState !== "RUNNING" || taskState !== "RUNNING") {
      problems.push(
        `connector ${target.connectorName} is ${connectorState}, its task ${taskState}: nothing is relayed`,
      );
    } else if (silence === null || silence * 1000 > HEARTBEAT_MISSED_BEATS * heartbeatIntervalMs) {
      problems.push(
        silentTaskProblem(options.connect.url, target.connectorName, silence, heartbeatIntervalMs),
      );
    }
    for (const topic of "missing" in kafka ? kafka.missing : []) {
      problems.push(
        `topic ${topic} does not exist: Debezium's task waits for it without failing (it stays RUNNING) and ` +
          "relays nothing from its first event for it on; create it (npm run topics)",
      );
    }
    if (!slot) {
      problems.push(
        `replication slot ${target.slotName} is missing: Debezium cannot resume where it stopped`,
      );
    } else if (slot.walStatus === "lost") {
      problems.push(
        `replication slot ${target.slotName} lost WAL it needed (wal_status=lost): events are missing`,
      );
    }
    return {
      mode,
      handover,
      debezium: {
        connector: target.connectorName,
        connectorState,
        taskState,
        trace,
        heartbeatSilenceSeconds: silence,
        slot,
      },
      problems,
    };
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The catalog's event topics that Kafka does not have (deleted, or never created). Connect's producer takes a
 * topic missing from the metadata for a retriable error, and its task retries the send for ever while its state
 * stays RUNNING: only this tells that the connector relays nothing. Or that Kafka does not answer, and why.
 */
async function eventTopicsOnKafka(
  kafkaBrokers: string[],
): Promise<{ missing: string[] } | { unreachable: string }> {
  const admin = createKafka({ brokers: kafkaBrokers, clientId: "relay-status", retries: 1 }).admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    return {
      missing: topics.map((topic) => topic.name).filter((name) => isTopicName(name) && !existing.has(name)),
    };
  } catch (error) {
    return { unreachable: (error as Error).message.slice(0, 300) };
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * A readiness check (observability/health.ts's ReadinessCheck shape) for services running with RELAY_MODE=debezium:
 * down when the connector or its task is not RUNNING, or has missed its heartbeats, the worker does not answer, the
 * slot is gone, or an event topic is missing.
 */
export function debeziumReadinessCheck(options: {
  databaseUrl: string;
  connect: ConnectClient;
  connectDatabaseUrl?: string;
  kafkaBrokers?: string[];
}): { name: string; check: () => Promise<unknown> } {
  return {
    name: "debezium",
    check: async () => {
      const status = await relayStatus(options);
      if (status.problems.length > 0) throw new Error(status.problems.join("; "));
      return status.debezium;
    },
  };
}

/** A task Connect calls RUNNING that has stopped beating: what that means and what to do. */
function silentTaskProblem(
  connectUrl: string,
  connectorName: string,
  silence: number | null,
  heartbeatIntervalMs: number,
): string {
  const since =
    silence === null
      ? "has never run its heartbeat"
      : `has not run its heartbeat for ${Math.round(silence)} s`;
  return (
    `connector ${connectorName}'s task 0 is reported RUNNING but ${since} (every ${heartbeatIntervalMs / 1000} s ` +
    "while it runs): it is dead or stuck and relays nothing. Connect reports a task killed by a record Kafka " +
    "refused FAILED only once its producer has closed; the worker's log says why (\"Task threw an uncaught and " +
    `unrecoverable exception"). Fix the cause, then POST ${connectUrl}/connectors/${connectorName}/restart?includeTasks=true`
  );
}

/**
 * What a Java stack trace says went wrong: its last `Caused by:` line (Connect wraps a producer's
 * RecordTooLargeException in "Cannot execute transactional method because we are in an error state"), else its
 * first line.
 */
function rootCause(trace: string | undefined): string {
  if (!trace) return "no trace";
  const causes = trace.split("\n").filter((line) => line.startsWith("Caused by: "));
  const said = causes.at(-1)?.slice("Caused by: ".length) ?? trace.split("\n", 1)[0] ?? "";
  return said.slice(0, 300);
}

/** `npm run relay:status`: reads the services the environment names (or the local ones); never starts any. */
async function main(): Promise<void> {
  parseCommand({
    usage: `usage: npm run relay:status
  prints which relay runs and how it does (connector, task, slot lag, or the polling cursor and backlog) as
  JSON, and exits 1 when something is broken; starts nothing`,
  });
  // Checked as every command checks them: a malformed DATABASE_URL is refused naming it, not tried as it is.
  const env = loadEnv();
  const connect = new ConnectClient(env.KAFKA_CONNECT_URL ?? localConnectUrl());
  const status = await relayStatus({
    databaseUrl: env.DATABASE_URL ?? localDatabaseUrl(),
    connect,
    connectDatabaseUrl: env.CONNECT_DATABASE_URL,
    kafkaBrokers: env.KAFKA_BROKERS ?? localKafkaBrokers(),
  });
  console.log(JSON.stringify(status, null, 2));
  if (status.problems.length > 0) process.exit(1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    await main();
  } catch (error) {
    process.exit(reportFailure(error));
  }
}

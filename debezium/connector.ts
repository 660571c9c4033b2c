// Registering and removing the outbox connector on a Connect worker, and finding that worker: the one
// KAFKA_CONNECT_URL names, or the project's own (stack/connect.ts).

import { loadConnectUrl } from "../config/env.ts";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";
import { applyTopics, type TopicReplication } from "../events/apply-topics.ts";
import { createKafka } from "../kafka/client.ts";
import {
  localConnectorSecretsFile,
  localConnectUrl,
  probeWorker,
  startConnect,
  writeSecretsFile,
} from "../stack/connect.ts";
import {
  type ConnectorOptions,
  connectorConfig,
  connectorSecrets,
  type DebeziumTarget,
  heartbeatTopic,
} from "./connectorConfig.ts";
import { ConnectClient, type ConnectorStatus, ConnectRestError } from "./connectRest.ts";

export interface RegistrationOptions extends ConnectorOptions {
  /** How the setup's admin client reaches Kafka; unset, the environment's settings (kafka/client.ts). */
  kafkaSecurity?: KafkaSecurity;
  /** Where the worker reads the connector's secrets; unset, connectorSecretsFile's choice. */
  secretsFile?: string;
  /** The heartbeat topic's replication; unset, that of the catalog's topics (events/apply-topics.ts). */
  replication?: TopicReplication;
}

/**
 * The file the connector's secrets go to: CONNECT_SECRETS_FILE (the path as the worker sees it, e.g. on a volume
 * both containers mount), else one under .data/ that a worker on this machine reads.
 */
export function connectorSecretsFile(target: DebeziumTarget, env: NodeJS.ProcessEnv = process.env): string {
  return env.CONNECT_SECRETS_FILE || localConnectorSecretsFile(target.connectorName);
}

/**
 * Creates or updates the connector (PUT is idempotent) and waits until it and its task are RUNNING.
 * The slot must exist already: it is the position the relay hands over at (handover/switch.ts). The database
 * password is written to the secrets file first; the config the worker stores names it by a placeholder.
 */
export async function registerConnector(
  connect: ConnectClient,
  target: DebeziumTarget,
  kafkaBrokers: readonly string[],
  options: RegistrationOptions = {},
): Promise<ConnectorStatus> {
  const {
    kafkaSecurity,
    secretsFile = connectorSecretsFile(target),
    replication,
    ...connectorOptions
  } = options;
  await ensureHeartbeatTopic(kafkaBrokers, target, kafkaSecurity, replication);
  // A file named by CONNECT_SECRETS_FILE is shared with a worker running as another user (docker-compose.yml).
  await writeSecretsFile(secretsFile, connectorSecrets(target), {
    groupReadable: Boolean(process.env.CONNECT_SECRETS_FILE),
  });
  await connect.putConnectorConfig(
    target.connectorName,
    connectorConfig(target, secretsFile, connectorOptions),
  );
  // A connector stopped (by an interrupted switch) or paused (by hand) keeps that target state across a config
  // update, and a config that changed restarts it, so its status read now may be UNASSIGNED or RESTARTING, not
  // yet STOPPED or PAUSED: it is resumed whatever the status says (a running connector takes that as nothing).
  await connect.resume(target.connectorName);
  return connect.waitUntilRunning(target.connectorName, 90_000);
}

/**
 * The topic Debezium's heartbeat records go to (connectorConfig.ts says why they must be written). Created
 * here because the broker creates no topic on its own, and Connect's topic creation would then also create
 * whatever topic a mistyped outbox row named. One partition, compacted: it holds one record per connector.
 */
async function ensureHeartbeatTopic(
  kafkaBrokers: readonly string[],
  target: DebeziumTarget,
  security: KafkaSecurity | undefined,
  replication: TopicReplication | undefined,
): Promise<void> {
  const admin = createKafka({ brokers: [...kafkaBrokers], clientId: "debezium-setup", security }).admin();
  await admin.connect();
  try {
    await applyTopics(admin, {
      topics: [{ name: heartbeatTopic(target), partitions: 1, configs: { "cleanup.policy": "compact" } }],
      log: { info: () => {}, warn: () => {} },
      security,
      replication,
    });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Stops the connector, forgets its offsets and deletes it, so that nothing streams from the slot any more and a
 * later registration starts from a new slot with no stale offsets. A no-op when it is not registered.
 */
export async function removeConnector(connect: ConnectClient, connectorName: string): Promise<void> {
  if (!(await connect.status(connectorName))) return;
  try {
    await stopConnector(connect, connectorName);
    await connect.resetOffsets(connectorName);
    await connect.delete(connectorName);
  } catch (error) {
    // The status topic trails the config topic: a connector deleted a moment ago can still show a status.
    if (!(error instanceof ConnectRestError && error.status === 404)) throw error;
  }
}

/** Stops the connector's task (its walsender lets go of the slot) and waits until it has. */
export async function stopConnector(connect: ConnectClient, connectorName: string): Promise<void> {
  await connect.stop(connectorName);
  await connect.waitUntilStopped(connectorName, 60_000);
}

export interface ConnectWorker {
  connect: ConnectClient;
  /** True when this call started the project's own worker. */
  startedByUs: boolean;
}

/**
 * The worker KAFKA_CONNECT_URL names (it must answer and offer the Postgres connector), or the project's own,
 * started against `kafkaBrokers` unless it runs already.
 */
export async function ensureConnectWorker(
  kafkaBrokers: readonly string[],
  log: (line: string) => void,
  connectUrl: string | undefined = loadConnectUrl(),
): Promise<ConnectWorker> {
  if (connectUrl && connectUrl !== localConnectUrl()) {
    const state = await probeWorker(connectUrl);
    if (state !== "ready") {
      throw new Error(
        state === "no-plugin"
          ? `KAFKA_CONNECT_URL=${connectUrl}: that worker has no Debezium Postgres connector plugin (io.debezium:debezium-connector-postgres 3.6.1.Final)`
          : `KAFKA_CONNECT_URL=${connectUrl}: no Kafka Connect worker answers there (GET /connector-plugins)`,
      );
    }
    return { connect: new ConnectClient(connectUrl), startedByUs: false };
  }
  const local = await startConnect(kafkaBrokers, log);
  return { connect: new ConnectClient(local.url), startedByUs: local.startedByUs };
}

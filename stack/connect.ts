import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";
import { kafkaSecurityFromEnvironment } from "../kafka/client.ts";
import { javaClientSecrets, javaClientSecurity } from "../kafka/security.ts";
import { copyPinnedDependencies, ensurePinnedJars, findJava } from "./jvm.ts";
import {
  isPortOpen,
  isProcessAlive,
  listensOn,
  runningPid,
  spawnDetached,
  stackPaths,
  stopProcess,
  tailOfFile,
  waitUntil,
  withLock,
} from "./processes.ts";

const HOST = "127.0.0.1";
const PORT = 8083;
/** Bound to the loopback address only: Connect's REST API has no authentication. */
export const localConnectUrl = `http://${HOST}:${PORT}`;

/** The class a worker must offer before the relay can run on it. */
export const POSTGRES_CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector";

/** One worker: its folder under .data/ (and log file name), its REST port, and how it reaches Kafka. */
export interface ConnectWorkerNode {
  name: string;
  port: number;
  /** TLS and SASL to the brokers; unset, the environment's (KAFKA_SSL*, KAFKA_SASL_*). */
  security?: KafkaSecurity;
}

/** The worker `RELAY_MODE=debezium npm start` and the tests run when KAFKA_CONNECT_URL is unset. */
export const localConnectNode: ConnectWorkerNode = { name: "connect", port: PORT };

const stackDir = fileURLToPath(new URL(".", import.meta.url));
const pomFile = join(stackDir, "pom.xml");
const libsDir = join(stackDir, "libs-connect");
const workerLibs = join(libsDir, "worker");
const pluginPath = join(libsDir, "plugins");
const log4jFile = join(stackDir, "connect-log4j2.properties");

function pathsOf(node: ConnectWorkerNode) {
  const dir = join(stackPaths.data, node.name);
  return {
    dir,
    // The properties file path is in the JVM's command line and unique to this checkout and worker.
    propertiesFile: join(dir, "connect-distributed.properties"),
    /** The worker's own Kafka secrets (SASL login, client key), read through its file config provider. */
    kafkaSecretsFile: join(dir, "secrets", "kafka.properties"),
    pidFile: join(dir, "connect.pid"),
    lockFile: join(stackPaths.data, `${node.name}.lock`),
    logFile: join(stackPaths.logs, `${node.name}.log`),
    url: `http://${HOST}:${node.port}`,
  };
}

export const connectLogFile = pathsOf(localConnectNode).logFile;

/**
 * Where the project writes a connector's secrets (the database password) for a worker on this machine to read
 * through its file config provider, so that the connector's stored config holds only a placeholder.
 */
export function localConnectorSecretsFile(connectorName: string): string {
  return join(stackPaths.data, "connect-secrets", `${connectorName}.properties`);
}

/**
 * Writes a properties file only its owner may read (a worker on this machine runs as the same user), or also
 * its group with `groupReadable` (a worker in another container, given that group, reads a shared volume).
 */
export async function writeSecretsFile(
  file: string,
  secrets: Record<string, string>,
  { groupReadable = false }: { groupReadable?: boolean } = {},
): Promise<void> {
  const mode = groupReadable ? 0o640 : 0o600;
  await mkdir(dirname(file), { recursive: true, mode: groupReadable ? 0o750 : 0o700 });
  const lines = Object.entries(secrets).map(([key, value]) => `${key}=${propertiesValue(value)}`);
  await writeFile(file, `${lines.join("\n")}\n`, { mode });
  // writeFile's mode applies only to a new file.
  await chmod(file, mode);
}

/** A value as java.util.Properties reads it back: backslashes doubled, a leading space and line breaks escaped. */
function propertiesValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll("\r", "\\r").replace(/^ /, "\\ ");
}

type Log = (line: string) => void;

/** True when a Kafka Connect worker (ours or anyone's) answers on 127.0.0.1:8083 and offers the connector. */
export async function connectIsRunning(): Promise<boolean> {
  return (await probeWorker(localConnectUrl)) === "ready";
}

/** The pid of the worker this project started, if it runs. */
export async function localConnectPid(
  node: ConnectWorkerNode = localConnectNode,
): Promise<number | undefined> {
  const paths = pathsOf(node);
  return runningPid(paths.pidFile, paths.propertiesFile);
}

/**
 * The pid of the worker this checkout started, when it is the one serving its port (127.0.0.1:8083): the only
 * worker a test may stop or kill. Undefined while the port belongs to another checkout's worker (or anyone's).
 */
export async function ownConnectPid(node: ConnectWorkerNode = localConnectNode): Promise<number | undefined> {
  const pid = await localConnectPid(node);
  return pid !== undefined && (await listensOn(pid, node.port)) ? pid : undefined;
}

/**
 * Starts the local worker against `kafkaBrokers`, or reuses one that already answers on 127.0.0.1:8083
 * (`startedByUs: false`). Resolves once the REST API answers and lists the Debezium Postgres connector.
 * The first start fetches the jars with Maven (a minute or so); later starts take seconds.
 */
export async function startConnect(
  kafkaBrokers: readonly string[],
  log: Log = () => {},
  node: ConnectWorkerNode = localConnectNode,
): Promise<{ url: string; startedByUs: boolean }> {
  const paths = pathsOf(node);
  const ready = () => workerReady(paths.url);
  const reused = { url: paths.url, startedByUs: false };
  if (await ready()) return reused;
  return withLock(paths.lockFile, "Kafka Connect", async () => {
    if (await ready()) return reused;
    const booting = await runningPid(paths.pidFile, paths.propertiesFile);
    if (booting !== undefined) {
      await waitForWorker(node, booting);
      return reused;
    }
    if (await isPortOpen(HOST, node.port)) {
      // Maybe a worker someone else is still starting; give it the time a cold JVM needs.
      await waitUntil(ready, {
        what: `The process listening on ${HOST}:${node.port}`,
        timeoutMs: 60_000,
      }).catch((error: Error) => {
        throw new Error(
          `${HOST}:${node.port} is taken by something that does not answer as a Kafka Connect worker with the ` +
            `Debezium Postgres connector (${error.message}): stop it, or set KAFKA_CONNECT_URL`,
        );
      });
      return reused;
    }

    const java = await findJava(toolsHint);
    await ensureJars(log);
    await mkdir(paths.dir, { recursive: true });
    const security = node.security ?? kafkaSecurityFromEnvironment();
    await writeSecretsFile(paths.kafkaSecretsFile, javaClientSecrets(security));
    await writeFile(paths.propertiesFile, workerProperties(kafkaBrokers, node, security));

    const started = Date.now();
    const pid = await spawnDetached({
      command: java,
      args: jvmArgs(paths.propertiesFile),
      logFile: paths.logFile,
    });
    await writeFile(paths.pidFile, `${pid}\n`);
    await waitForWorker(node, pid);
    log(`connect: started on ${paths.url} in ${Date.now() - started} ms (pid ${pid})`);
    return { url: paths.url, startedByUs: true };
  });
}

/**
 * Stops the worker this project started (clean shutdown, SIGKILL after 30 s); a no-op when none runs.
 * Its connectors stay registered in Kafka (connect-configs) and resume at the next start.
 */
export async function stopConnect(node: ConnectWorkerNode = localConnectNode): Promise<void> {
  const paths = pathsOf(node);
  await withLock(paths.lockFile, "Kafka Connect", async () => {
    const pid = await runningPid(paths.pidFile, paths.propertiesFile);
    if (pid !== undefined) {
      await stopProcess(pid, { signal: "SIGTERM", marker: paths.propertiesFile, timeoutMs: 30_000 });
    }
    await rm(paths.pidFile, { force: true });
  });
}

type WorkerProbe = "absent" | "starting" | "ready" | "no-plugin";

/**
 * What answers at `url`: nothing, a worker whose REST API is not serving yet, a ready worker with the
 * Postgres connector, or a worker without it.
 */
export async function probeWorker(url: string): Promise<WorkerProbe> {
  let response: Response;
  try {
    response = await fetch(`${url}/connector-plugins?connectorsOnly=true`, {
      signal: AbortSignal.timeout(3_000),
    });
  } catch {
    const { hostname, port } = new URL(url);
    return hostname === HOST && (await isPortOpen(HOST, Number(port))) ? "starting" : "absent";
  }
  // The REST server answers 5xx while the herder is still starting.
  if (!response.ok) return "starting";
  const plugins = (await response.json()) as Array<{ class: string }>;
  return plugins.some((plugin) => plugin.class === POSTGRES_CONNECTOR_CLASS) ? "ready" : "no-plugin";
}

async function workerReady(url: string): Promise<boolean> {
  const state = await probeWorker(url);
  if (state === "no-plugin") {
    throw new Error(
      `The Kafka Connect worker at ${url} has no ${POSTGRES_CONNECTOR_CLASS} plugin: ` +
        "stop it, or set KAFKA_CONNECT_URL to a worker that has it",
    );
  }
  return state === "ready";
}

async function waitForWorker(node: ConnectWorkerNode, pid: number): Promise<void> {
  const { url, logFile, propertiesFile } = pathsOf(node);
  await waitUntil(() => workerReady(url), {
    what: `Kafka Connect (pid ${pid}, log ${logFile})`,
    timeoutMs: 120_000,
    giveUp: async () =>
      (await isProcessAlive(pid, propertiesFile))
        ? undefined
        : `Kafka Connect exited while starting. Last lines of ${logFile}:\n${await tailOfFile(logFile)}`,
  });
}

function workerProperties(
  kafkaBrokers: readonly string[],
  node: ConnectWorkerNode,
  security: KafkaSecurity,
): string {
  const { kafkaSecretsFile } = pathsOf(node);
  const client = javaClientSecurity(security, (name) => `\${file:${kafkaSecretsFile}:${name}}`);
  // The worker's own clients and those it makes for connectors (producer., consumer., admin.) all reach Kafka.
  const securityLines = ["", "producer.", "consumer.", "admin."].flatMap((prefix) =>
    Object.entries(client).map(([key, value]) => `${prefix}${key}=${value}`),
  );
  return `# Written by stack/connect.ts on every start; edit that file, not this one.
bootstrap.servers=${kafkaBrokers.join(",")}
group.id=healthcare-connect

# Secrets are read through the file config provider: this file and the connectors' stored configs hold only
# \${file:<path>:<key>} placeholders, resolved in memory when a client or a task starts.
config.providers=file
config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider
${securityLines.join("\n")}

# The worker's own state lives in Kafka. One broker: every internal topic has one replica, and one partition
# is plenty for one worker (the defaults, 25 and 5, only make the first start slower).
config.storage.topic=connect-configs
config.storage.replication.factor=1
offset.storage.topic=connect-offsets
offset.storage.replication.factor=1
offset.storage.partitions=1
status.storage.topic=connect-status
status.storage.replication.factor=1
status.storage.partitions=1

# KIP-618: source records and their offsets are written in one Kafka transaction, so a crash can neither
# lose an acknowledged offset nor leave a record visible (to read_committed consumers) without its offset.
exactly.once.source.support=enabled

# Connectors set their own converters (debezium/connectorConfig.ts); these are only the defaults.
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
# An exactly-once task with transaction.boundary=poll (debezium/connectorConfig.ts) commits its offsets in every
# poll's transaction and never on this timer; the timer paces offset commits only for a connector without
# exactly-once delivery (and is the default interval of transaction.boundary=interval). A second at most of
# events would be sent again after a crash of such a connector.
offset.flush.interval.ms=1000

listeners=http://${HOST}:${node.port}
rest.advertised.host.name=${HOST}
rest.advertised.port=${node.port}

# Each folder under plugin.path gets its own class loader, so Debezium's jars never meet the worker's.
plugin.path=${pluginPath}
# Every plugin here ships ServiceLoader manifests; skipping the reflective classpath scan saves seconds.
plugin.discovery=service_load

# One worker: when it comes back after a crash, its connector is reassigned at once rather than after the
# default 5 minutes reserved for a departed worker to return.
scheduled.rebalance.max.delay.ms=0
session.timeout.ms=6000
heartbeat.interval.ms=2000
`;
}

function jvmArgs(propertiesFile: string): string[] {
  return [
    "-Xms128m",
    "-Xmx512m",
    // As for the broker: no GC threads competing for the two cores; pauses on a small heap stay short.
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    `-Dlog4j2.configurationFile=${log4jFile}`,
    "-Dlog4j2.shutdownHookEnabled=false",
    "-cp",
    join(workerLibs, "*"),
    "org.apache.kafka.connect.cli.ConnectDistributed",
    propertiesFile,
  ];
}

const toolsHint =
  "The local Kafka Connect worker needs Java 17+ and Maven on PATH: install them " +
  "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless maven), or set KAFKA_CONNECT_URL to an existing worker.";

/**
 * Copies the worker's jars and the Debezium plugin's jars (two profiles of stack/pom.xml) into
 * stack/libs-connect/ unless they match the current pom.xml already.
 */
async function ensureJars(log: Log): Promise<void> {
  await ensurePinnedJars({
    pomFile,
    libsDir,
    partialDir: join(stackPaths.data, "connect-libs.partial"),
    announce: () =>
      log("connect: fetching the Kafka Connect and Debezium jars pinned in stack/pom.xml with Maven"),
    fetch: async (partialDir) => {
      await copyProfile("worker", join(partialDir, "worker"), []);
      // The worker provides the logging API and backend; a second copy inside the plugin would only shadow it.
      await copyProfile("debezium", join(partialDir, "plugins", "debezium"), [
        "-DexcludeGroupIds=org.slf4j,org.apache.logging.log4j",
      ]);
    },
  });
}

function copyProfile(profile: string, outputDirectory: string, extraArgs: string[]): Promise<void> {
  return copyPinnedDependencies({
    pomFile,
    outputDirectory,
    extraArgs: [`-Dstack.connect=${profile}`, ...extraArgs],
    what: `${profile} jars`,
    toolsHint,
  });
}

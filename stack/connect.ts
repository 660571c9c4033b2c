import { chmod, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { loadStackEnv } from "../config/env.ts";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";
import { projectPath } from "../config/projectRoot.ts";
import { createKafka, kafkaSecurityFromEnvironment } from "../kafka/client.ts";
import { javaClientSecrets, javaClientSecurity } from "../kafka/security.ts";
import { CONNECT_STATE_TOPICS } from "./connectTopics.ts";
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
const DEFAULT_PORT = 8083;

/** Which local Connect cluster: the REST port of the first worker (worker i uses basePort + i) and how many. */
export interface ConnectCluster {
  basePort: number;
  workers: number;
  /** The workers' folder under .data/ (and log file name); unset, derived from the port. */
  name?: string;
  /** TLS and SASL to the brokers; unset, the environment's (KAFKA_SSL*, KAFKA_SASL_*). */
  security?: KafkaSecurity;
}

/** CONNECT_PORT and CONNECT_WORKERS (default: one worker on 8083). */
export function connectClusterFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectCluster {
  const { CONNECT_PORT, CONNECT_WORKERS } = loadStackEnv(env);
  return { basePort: CONNECT_PORT, workers: CONNECT_WORKERS };
}

/** Worker `index`'s REST URL, bound to the loopback address only: Connect's REST API has no authentication. */
export function connectWorkerUrl(index: number, cluster: ConnectCluster = connectClusterFromEnv()): string {
  return `http://${HOST}:${cluster.basePort + index}`;
}

/** The first local worker's REST URL (CONNECT_PORT, default 8083): any worker of the group serves the API. */
export function localConnectUrl(): string {
  return connectWorkerUrl(0);
}

/** The class a worker must offer before the relay can run on it. */
export const POSTGRES_CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector";

const stackDir = projectPath("stack");
const pomFile = join(stackDir, "pom.xml");
const libsDir = join(stackDir, "libs-connect");
const workerLibs = join(libsDir, "worker");
const pluginPath = join(libsDir, "plugins");
const log4jFile = join(stackDir, "connect-log4j2.properties");

const isDefault = (cluster: ConnectCluster) =>
  cluster.basePort === DEFAULT_PORT && cluster.name === undefined;

/** Worker `index`'s folder under .data/ and log file name. */
function workerName(cluster: ConnectCluster, index: number): string {
  if (cluster.name !== undefined) return index === 0 ? cluster.name : `${cluster.name}-${index}`;
  return isDefault(cluster) && index === 0 ? "connect" : `connect-${cluster.basePort + index}`;
}

function workerPaths(cluster: ConnectCluster, index: number) {
  const port = cluster.basePort + index;
  const name = workerName(cluster, index);
  const dir = join(stackPaths.data, name);
  const propertiesFile = join(dir, "connect-distributed.properties");
  return {
    dir,
    port,
    propertiesFile,
    /** The worker's own Kafka secrets (SASL login, client key), read through its file config provider. */
    kafkaSecretsFile: join(dir, "secrets", "kafka.properties"),
    pidFile: join(dir, "connect.pid"),
    logFile: join(stackPaths.logs, `${name}.log`),
    // The properties file path is in the JVM's command line and unique to this checkout and worker.
    marker: propertiesFile,
  };
}

const lockFileOf = (cluster: ConnectCluster) =>
  join(
    stackPaths.data,
    cluster.name !== undefined
      ? `${cluster.name}.lock`
      : isDefault(cluster)
        ? "connect.lock"
        : `connect-${cluster.basePort}.lock`,
  );

/** The first worker's log (the only one by default). */
export const connectLogFile = workerPaths({ basePort: DEFAULT_PORT, workers: 1 }, 0).logFile;

const workerIndexes = (cluster: ConnectCluster) => Array.from({ length: cluster.workers }, (_, i) => i);

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

/** True when a Kafka Connect worker (ours or anyone's) answers at localConnectUrl() and offers the connector. */
export async function connectIsRunning(cluster: ConnectCluster = connectClusterFromEnv()): Promise<boolean> {
  return (await probeWorker(connectWorkerUrl(0, cluster))) === "ready";
}

/** The pid of the first worker this project started, if it runs. */
export async function localConnectPid(
  cluster: ConnectCluster = connectClusterFromEnv(),
): Promise<number | undefined> {
  return connectWorkerPid(0, cluster);
}

/** The pid of worker `index` as this checkout started it, if it runs. */
export async function connectWorkerPid(
  index: number,
  cluster: ConnectCluster = connectClusterFromEnv(),
): Promise<number | undefined> {
  const paths = workerPaths(cluster, index);
  return runningPid(paths.pidFile, paths.marker);
}

/**
 * The pid of the first worker this checkout started, when it is the one serving its port: the only worker a
 * test may stop or kill. Undefined while the port belongs to another checkout's worker (or anyone's).
 */
export async function ownConnectPid(
  cluster: ConnectCluster = connectClusterFromEnv(),
): Promise<number | undefined> {
  const pid = await localConnectPid(cluster);
  return pid !== undefined && (await listensOn(pid, cluster.basePort)) ? pid : undefined;
}

/**
 * Starts the local workers (one group) against `kafkaBrokers`, or reuses them when they already answer
 * (`startedByUs: false`). Resolves once every worker's REST API answers and lists the Debezium Postgres
 * connector. The first start fetches the jars with Maven (a minute or so); later starts take seconds.
 */
export async function startConnect(
  kafkaBrokers: readonly string[],
  log: Log = () => {},
  cluster: ConnectCluster = connectClusterFromEnv(),
): Promise<{ url: string; startedByUs: boolean }> {
  const url = connectWorkerUrl(0, cluster);
  const reused = { url, startedByUs: false };
  const allReady = async () =>
    (
      await Promise.all(workerIndexes(cluster).map((index) => workerReady(connectWorkerUrl(index, cluster))))
    ).every(Boolean);
  if (await allReady()) return reused;
  return withLock(lockFileOf(cluster), "Kafka Connect", async () => {
    if (await allReady()) return reused;
    let startedByUs = false;
    const started = Date.now();
    for (const index of workerIndexes(cluster)) {
      if (await workerReady(connectWorkerUrl(index, cluster))) continue;
      const booting = await connectWorkerPid(index, cluster);
      if (booting !== undefined) continue;
      const { port } = workerPaths(cluster, index);
      if (await isPortOpen(HOST, port)) {
        // Maybe a worker someone else is still starting; give it the time a cold JVM needs.
        await waitUntil(() => workerReady(connectWorkerUrl(index, cluster)), {
          what: `The process listening on ${HOST}:${port}`,
          timeoutMs: 60_000,
        }).catch((error: Error) => {
          throw new Error(
            `${HOST}:${port} is taken by something that does not answer as a Kafka Connect worker with the ` +
              `Debezium Postgres connector (${error.message}): stop it, or set KAFKA_CONNECT_URL`,
          );
        });
        continue;
      }
      if (!startedByUs) await refuseWithoutKafka(kafkaBrokers, cluster);
      await spawnWorker(kafkaBrokers, cluster, index, log);
      startedByUs = true;
    }
    const pids = await Promise.all(workerIndexes(cluster).map((index) => waitForWorker(cluster, index)));
    if (startedByUs) {
      log(
        `connect: ${cluster.workers} worker(s) started from ${url} in ${Date.now() - started} ms (pid ${pids.join(", ")})`,
      );
    }
    return { url, startedByUs };
  });
}

/**
 * Throws the Kafka client's error, which names the brokers, when none of `kafkaBrokers` answers: a worker started
 * without them waits a minute for its internal topics, then exits with a page of Java in its log.
 */
async function refuseWithoutKafka(kafkaBrokers: readonly string[], cluster: ConnectCluster): Promise<void> {
  const admin = createKafka({
    brokers: [...kafkaBrokers],
    clientId: "connect-start",
    security: cluster.security ?? kafkaSecurityFromEnvironment(),
    retries: 2,
  }).admin();
  try {
    await admin.connect();
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Starts worker `index` (say, after it was killed) and resolves once it is ready; a no-op when it runs. */
export async function startConnectWorker(
  index: number,
  kafkaBrokers: readonly string[],
  cluster: ConnectCluster = connectClusterFromEnv(),
  log: Log = () => {},
): Promise<number | undefined> {
  return withLock(lockFileOf(cluster), "Kafka Connect", async () => {
    if ((await connectWorkerPid(index, cluster)) === undefined)
      await spawnWorker(kafkaBrokers, cluster, index, log);
    return waitForWorker(cluster, index);
  });
}

/** SIGKILLs worker `index` (a crash, for fault tests) and waits until the process is gone. */
export async function killConnectWorker(
  index: number,
  cluster: ConnectCluster = connectClusterFromEnv(),
): Promise<void> {
  const pid = await connectWorkerPid(index, cluster);
  if (pid === undefined) return;
  await stopProcess(pid, {
    signal: "SIGKILL",
    marker: workerPaths(cluster, index).marker,
    timeoutMs: 10_000,
  });
}

async function spawnWorker(
  kafkaBrokers: readonly string[],
  cluster: ConnectCluster,
  index: number,
  log: Log,
): Promise<number> {
  const java = await findJava(toolsHint);
  await ensureJars(log);
  const paths = workerPaths(cluster, index);
  await mkdir(paths.dir, { recursive: true });
  const security = cluster.security ?? kafkaSecurityFromEnvironment();
  await writeSecretsFile(paths.kafkaSecretsFile, javaClientSecrets(security));
  await writeFile(paths.propertiesFile, workerProperties(kafkaBrokers, cluster, index, security));
  const pid = await spawnDetached({
    command: java,
    args: jvmArgs(paths.propertiesFile),
    logFile: paths.logFile,
  });
  await writeFile(paths.pidFile, `${pid}\n`);
  return pid;
}

/**
 * Stops the workers this project started (clean shutdown, SIGKILL after 30 s); a no-op when none runs.
 * Their connectors stay registered in Kafka (the config topic) and resume at the next start.
 */
export async function stopConnect(cluster: ConnectCluster = connectClusterFromEnv()): Promise<void> {
  await withLock(lockFileOf(cluster), "Kafka Connect", async () => {
    await Promise.all(
      workerIndexes(cluster).map(async (index) => {
        const paths = workerPaths(cluster, index);
        const pid = await runningPid(paths.pidFile, paths.marker);
        if (pid !== undefined) {
          await stopProcess(pid, { signal: "SIGTERM", marker: paths.marker, timeoutMs: 30_000 });
        }
        await rm(paths.pidFile, { force: true });
      }),
    );
  });
}

/** Stops every Connect worker this checkout started, whatever its ports (its directories under .data/). */
export async function stopAllConnect(): Promise<void> {
  const entries = await readdir(stackPaths.data).catch(() => [] as string[]);
  await Promise.all(
    entries
      .filter((entry) => /^connect(-\d+)?$/.test(entry))
      .map(async (entry) => {
        const propertiesFile = join(stackPaths.data, entry, "connect-distributed.properties");
        const pidFile = join(stackPaths.data, entry, "connect.pid");
        const pid = await runningPid(pidFile, propertiesFile);
        if (pid !== undefined) {
          await stopProcess(pid, { signal: "SIGTERM", marker: propertiesFile, timeoutMs: 30_000 });
        }
        await rm(pidFile, { force: true });
      }),
  );
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
    // Something holds the port but does not serve yet: a worker still starting (or a stranger; the caller's
    // wait gives up on that one).
    const { hostname, port } = new URL(url);
    return port !== "" && (await isPortOpen(hostname, Number(port))) ? "starting" : "absent";
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

/** Waits until worker `index` (which this project started) is ready, and returns its pid. */
async function waitForWorker(cluster: ConnectCluster, index: number): Promise<number | undefined> {
  const paths = workerPaths(cluster, index);
  const pid = await connectWorkerPid(index, cluster);
  await waitUntil(() => workerReady(connectWorkerUrl(index, cluster)), {
    what: `Kafka Connect (pid ${pid}, log ${paths.logFile})`,
    timeoutMs: 120_000,
    giveUp: async () =>
      pid === undefined || (await isProcessAlive(pid, paths.marker))
        ? undefined
        : `Kafka Connect exited while starting. Last lines of ${paths.logFile}:\n${await tailOfFile(paths.logFile)}`,
  });
  return pid;
}

/**
 * The group id and the internal topics of `cluster`'s workers. The development worker keeps its historic
 * names; a group on other ports gets names of its own, so that it never joins (or writes into) the
 * development group when both point at the same Kafka.
 */
export function connectGroupNames(cluster: ConnectCluster = connectClusterFromEnv()) {
  const suffix = isDefault(cluster) ? "" : `-${cluster.basePort}`;
  return {
    group: `healthcare-connect${suffix}`,
    config: `${CONNECT_STATE_TOPICS.config}${suffix}`,
    offset: `${CONNECT_STATE_TOPICS.offset}${suffix}`,
    status: `${CONNECT_STATE_TOPICS.status}${suffix}`,
  };
}

function workerProperties(
  kafkaBrokers: readonly string[],
  cluster: ConnectCluster,
  index: number,
  security: KafkaSecurity,
): string {
  const port = cluster.basePort + index;
  const { kafkaSecretsFile } = workerPaths(cluster, index);
  const client = javaClientSecurity(security, (name) => `\${file:${kafkaSecretsFile}:${name}}`);
  // The worker's own clients and those it makes for connectors (producer., consumer., admin.) all reach Kafka.
  const securityLines = ["", "producer.", "consumer.", "admin."].flatMap((prefix) =>
    Object.entries(client).map(([key, value]) => `${prefix}${key}=${value}`),
  );
  const { group, config, offset, status } = connectGroupNames(cluster);
  return `# Written by stack/connect.ts on every start; edit that file, not this one.
bootstrap.servers=${kafkaBrokers.join(",")}
group.id=${group}

# Secrets are read through the file config provider: this file and the connectors' stored configs hold only
# \${file:<path>:<key>} placeholders, resolved in memory when a client or a task starts.
config.providers=file
config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider
${securityLines.join("\n")}

# The workers' own state lives in Kafka, with the broker's default replication (-1): one replica on one
# broker, three (and min.insync.replicas=2) on a cluster. One partition is plenty for a handful of workers
# (the defaults, 25 and 5, only make the first start slower).
config.storage.topic=${config}
config.storage.replication.factor=-1
offset.storage.topic=${offset}
offset.storage.replication.factor=-1
offset.storage.partitions=1
status.storage.topic=${status}
status.storage.replication.factor=-1
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

listeners=http://${HOST}:${port}
rest.advertised.host.name=${HOST}
rest.advertised.port=${port}

# Each folder under plugin.path gets its own class loader, so Debezium's jars never meet the worker's.
plugin.path=${pluginPath}
# Every plugin here ships ServiceLoader manifests; skipping the reflective classpath scan saves seconds.
plugin.discovery=service_load

# A departed worker's connector and task go to the survivors at once (after the session timeout finds it
# gone), rather than after the default 5 minutes reserved for it to come back: the outbox must keep flowing.
scheduled.rebalance.max.delay.ms=0
session.timeout.ms=6000
heartbeat.interval.ms=2000
`;
}

function jvmArgs(propertiesFile: string): string[] {
  return [
    "-Xms128m",
    "-Xmx512m",
    // As for the broker (stack/kafka.ts): G1 with a 20 ms pause goal, on at most two GC threads. Serial GC
    // also ran full collections of the whole heap, about 110 ms each, several a minute under bench:relay.
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:ParallelGCThreads=2",
    "-XX:ConcGCThreads=1",
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

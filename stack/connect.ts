import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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

const stackDir = fileURLToPath(new URL(".", import.meta.url));
const pomFile = join(stackDir, "pom.xml");
const libsDir = join(stackDir, "libs-connect");
const workerLibs = join(libsDir, "worker");
const pluginPath = join(libsDir, "plugins");
const log4jFile = join(stackDir, "connect-log4j2.properties");

const connectDir = join(stackPaths.data, "connect");
const propertiesFile = join(connectDir, "connect-distributed.properties");
const pidFile = join(connectDir, "connect.pid");
const lockFile = join(stackPaths.data, "connect.lock");
export const connectLogFile = join(stackPaths.logs, "connect.log");

// The properties file path is in the JVM's command line and unique to this checkout.
const processMarker = propertiesFile;

type Log = (line: string) => void;

/** True when a Kafka Connect worker (ours or anyone's) answers on 127.0.0.1:8083 and offers the connector. */
export async function connectIsRunning(): Promise<boolean> {
  return (await probeWorker(localConnectUrl)) === "ready";
}

/** The pid of the worker this project started, if it runs. */
export async function localConnectPid(): Promise<number | undefined> {
  return runningPid(pidFile, processMarker);
}

/**
 * The pid of the worker this checkout started, when it is the one serving 127.0.0.1:8083: the only worker a
 * test may stop or kill. Undefined while the port belongs to another checkout's worker (or anyone's).
 */
export async function ownConnectPid(): Promise<number | undefined> {
  const pid = await localConnectPid();
  return pid !== undefined && (await listensOn(pid, PORT)) ? pid : undefined;
}

/**
 * Starts the local worker against `kafkaBrokers`, or reuses one that already answers on 127.0.0.1:8083
 * (`startedByUs: false`). Resolves once the REST API answers and lists the Debezium Postgres connector.
 * The first start fetches the jars with Maven (a minute or so); later starts take seconds.
 */
export async function startConnect(
  kafkaBrokers: readonly string[],
  log: Log = () => {},
): Promise<{ url: string; startedByUs: boolean }> {
  const reused = { url: localConnectUrl, startedByUs: false };
  if (await workerReady()) return reused;
  return withLock(lockFile, "Kafka Connect", async () => {
    if (await workerReady()) return reused;
    const booting = await runningPid(pidFile, processMarker);
    if (booting !== undefined) {
      await waitForWorker(booting);
      return reused;
    }
    if (await isPortOpen(HOST, PORT)) {
      // Maybe a worker someone else is still starting; give it the time a cold JVM needs.
      await waitUntil(workerReady, {
        what: `The process listening on ${HOST}:${PORT}`,
        timeoutMs: 60_000,
      }).catch((error: Error) => {
        throw new Error(
          `${HOST}:${PORT} is taken by something that does not answer as a Kafka Connect worker with the ` +
            `Debezium Postgres connector (${error.message}): stop it, or set KAFKA_CONNECT_URL`,
        );
      });
      return reused;
    }

    const java = await findJava(toolsHint);
    await ensureJars(log);
    await mkdir(connectDir, { recursive: true });
    await writeFile(propertiesFile, workerProperties(kafkaBrokers));

    const started = Date.now();
    const pid = await spawnDetached({ command: java, args: jvmArgs(), logFile: connectLogFile });
    await writeFile(pidFile, `${pid}\n`);
    await waitForWorker(pid);
    log(`connect: started on ${localConnectUrl} in ${Date.now() - started} ms (pid ${pid})`);
    return { url: localConnectUrl, startedByUs: true };
  });
}

/**
 * Stops the worker this project started (clean shutdown, SIGKILL after 30 s); a no-op when none runs.
 * Its connectors stay registered in Kafka (connect-configs) and resume at the next start.
 */
export async function stopConnect(): Promise<void> {
  await withLock(lockFile, "Kafka Connect", async () => {
    const pid = await runningPid(pidFile, processMarker);
    if (pid !== undefined) {
      await stopProcess(pid, { signal: "SIGTERM", marker: processMarker, timeoutMs: 30_000 });
    }
    await rm(pidFile, { force: true });
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
    return url === localConnectUrl && (await isPortOpen(HOST, PORT)) ? "starting" : "absent";
  }
  // The REST server answers 5xx while the herder is still starting.
  if (!response.ok) return "starting";
  const plugins = (await response.json()) as Array<{ class: string }>;
  return plugins.some((plugin) => plugin.class === POSTGRES_CONNECTOR_CLASS) ? "ready" : "no-plugin";
}

async function workerReady(): Promise<boolean> {
  const state = await probeWorker(localConnectUrl);
  if (state === "no-plugin") {
    throw new Error(
      `The Kafka Connect worker at ${localConnectUrl} has no ${POSTGRES_CONNECTOR_CLASS} plugin: ` +
        "stop it, or set KAFKA_CONNECT_URL to a worker that has it",
    );
  }
  return state === "ready";
}

async function waitForWorker(pid: number): Promise<void> {
  await waitUntil(workerReady, {
    what: `Kafka Connect (pid ${pid}, log ${connectLogFile})`,
    timeoutMs: 120_000,
    giveUp: async () =>
      (await isProcessAlive(pid, processMarker))
        ? undefined
        : `Kafka Connect exited while starting. Last lines of ${connectLogFile}:\n${await tailOfFile(connectLogFile)}`,
  });
}

function workerProperties(kafkaBrokers: readonly string[]): string {
  return `# Written by stack/connect.ts on every start; edit that file, not this one.
bootstrap.servers=${kafkaBrokers.join(",")}
group.id=healthcare-connect

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

listeners=http://${HOST}:${PORT}
rest.advertised.host.name=${HOST}
rest.advertised.port=${PORT}

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

function jvmArgs(): string[] {
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

// The project's own Kafka for machines without Docker: one Apache Kafka 4.x node in KRaft mode (broker and
// controller in one JVM) on localhost:9092, run from the jars stack/pom.xml pins, with its state in .data/kafka/.
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createKafka } from "../kafka/client.ts";
import { copyPinnedDependencies, ensurePinnedJars, findJava } from "./jvm.ts";
import {
  isPortOpen,
  isProcessAlive,
  listensOn,
  runCommand,
  runningPid,
  spawnDetached,
  stackPaths,
  stopProcess,
  tailOfFile,
  waitUntil,
  withLock,
} from "./processes.ts";

const HOST = "localhost";
const PORT = 9092;
const CONTROLLER_PORT = 9093;
export const localKafkaBrokers: readonly string[] = [`${HOST}:${PORT}`];

const stackDir = fileURLToPath(new URL(".", import.meta.url));
const pomFile = join(stackDir, "pom.xml");
const libsDir = join(stackDir, "libs");
const log4jFile = join(stackDir, "log4j2.properties");

const kafkaDir = join(stackPaths.data, "kafka");
const propertiesFile = join(kafkaDir, "server.properties");
const storageDir = join(kafkaDir, "data");
const pidFile = join(kafkaDir, "kafka.pid");
const lockFile = join(stackPaths.data, "kafka.lock");
export const kafkaLogFile = join(stackPaths.logs, "kafka.log");

// The properties file path is in the JVM's command line and unique to this checkout, so it tells our broker
// apart from any other java process that might have inherited a stale pid.
const processMarker = propertiesFile;

type Log = (line: string) => void;

/** True when a Kafka broker (ours or anyone's) answers on localhost:9092. */
export async function kafkaIsRunning(): Promise<boolean> {
  return brokerAnswers();
}

/** The pid of the broker this project started, if it runs. */
export async function localKafkaPid(): Promise<number | undefined> {
  return runningPid(pidFile, processMarker);
}

/**
 * The pid of the broker this checkout started, when it is the one serving localhost:9092: the only broker a
 * test may stop or kill. Undefined while the port belongs to another checkout's broker (or anyone's).
 */
export async function ownKafkaPid(): Promise<number | undefined> {
  const pid = await localKafkaPid();
  return pid !== undefined && (await listensOn(pid, PORT)) ? pid : undefined;
}

/**
 * Starts the local broker, or reuses one that already answers on localhost:9092 (`startedByUs: false`).
 * Resolves once a Kafka admin client gets cluster metadata from it.
 */
export async function startKafka(log: Log = () => {}): Promise<{ brokers: string[]; startedByUs: boolean }> {
  const reused = { brokers: [...localKafkaBrokers], startedByUs: false };
  if (await brokerAnswers()) return reused;
  return withLock(lockFile, "Kafka", async () => {
    if (await brokerAnswers()) return reused;
    const booting = await runningPid(pidFile, processMarker);
    if (booting !== undefined) {
      await waitForBroker(booting);
      return reused;
    }
    if (await isPortOpen(HOST, PORT)) {
      // Maybe a broker someone else is still starting; give it the time a cold JVM needs.
      await waitUntil(brokerAnswers, {
        what: `The process listening on ${HOST}:${PORT}`,
        timeoutMs: 30_000,
      }).catch(() => {
        throw new Error(
          `${HOST}:${PORT} is taken by something that does not answer as a Kafka broker: stop it, or set KAFKA_BROKERS`,
        );
      });
      return reused;
    }

    const java = await findJava(toolsHint);
    await ensureJars(log);
    await mkdir(storageDir, { recursive: true });
    await writeFile(propertiesFile, serverProperties());
    await formatStorageOnce(java, log);

    const started = Date.now();
    const pid = await spawnDetached({ command: java, args: jvmArgs(), logFile: kafkaLogFile });
    await writeFile(pidFile, `${pid}\n`);
    await waitForBroker(pid);
    log(`kafka: started on ${localKafkaBrokers.join(",")} in ${Date.now() - started} ms (pid ${pid})`);
    return { brokers: [...localKafkaBrokers], startedByUs: true };
  });
}

/** Stops the broker this project started (clean shutdown, SIGKILL after 30 s); a no-op when none runs. */
export async function stopKafka(): Promise<void> {
  await withLock(lockFile, "Kafka", async () => {
    const pid = await runningPid(pidFile, processMarker);
    if (pid !== undefined) {
      await stopProcess(pid, { signal: "SIGTERM", marker: processMarker, timeoutMs: 30_000 });
    }
    await rm(pidFile, { force: true });
  });
}

async function brokerAnswers(): Promise<boolean> {
  // A closed port is the common case while stopped; checking it first skips kafkajs' connect machinery.
  if (!(await isPortOpen(HOST, PORT))) return false;
  const admin = createKafka({
    brokers: [...localKafkaBrokers],
    clientId: "local-stack-probe",
    connectionTimeoutMs: 1000,
    requestTimeoutMs: 3000,
    retries: 0,
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function waitForBroker(pid: number): Promise<void> {
  await waitUntil(brokerAnswers, {
    what: `Kafka (pid ${pid}, log ${kafkaLogFile})`,
    timeoutMs: 120_000,
    giveUp: async () =>
      (await isProcessAlive(pid, processMarker))
        ? undefined
        : `Kafka exited while starting. Last lines of ${kafkaLogFile}:\n${await tailOfFile(kafkaLogFile)}`,
  });
}

function serverProperties(): string {
  return `# Written by stack/kafka.ts on every start; edit that file, not this one.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:${PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://${HOST}:${PORT}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
controller.quorum.bootstrap.servers=127.0.0.1:${CONTROLLER_PORT}
log.dirs=${storageDir}

# One node: every internal topic must fit on it, or consumers hang on FindCoordinator.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1

# Topics come from the event catalog (events/), never from a typo in a producer.
auto.create.topics.enable=false
num.partitions=1
group.initial.rebalance.delay.ms=0

# Internal topics default to 50 partitions, which makes the first group or transaction on a fresh node
# wait for 50 partition leaders; one node gains nothing from them.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.num.partitions=1

# The compaction dedupe buffer is allocated up front (128 MB by default) out of a 768 MB heap.
log.cleaner.dedupe.buffer.size=33554432
`;
}

function jvmArgs(): string[] {
  return [
    "-Xms256m",
    "-Xmx768m",
    // Serial GC: no GC threads competing for the two cores with Postgres and Node; pauses on a heap this
    // small stay in the low milliseconds. Full C2 compilation is kept for throughput under load.
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
    `-Dlog4j2.configurationFile=${log4jFile}`,
    // Kafka logs its own shutdown from its shutdown hook; log4j's hook would close the appenders first.
    "-Dlog4j2.shutdownHookEnabled=false",
    "-cp",
    join(libsDir, "*"),
    "kafka.Kafka",
    propertiesFile,
  ];
}

async function formatStorageOnce(java: string, log: Log): Promise<void> {
  // meta.properties holds the cluster id once formatted; formatting again would be refused anyway.
  if (existsSync(join(storageDir, "meta.properties"))) return;
  log(`kafka: formatting storage in ${storageDir}`);
  const result = await runCommand(java, [
    `-Dlog4j2.configurationFile=${log4jFile}`,
    "-cp",
    join(libsDir, "*"),
    "kafka.tools.StorageTool",
    "format",
    "--standalone",
    "--ignore-formatted",
    "--cluster-id",
    newClusterId(),
    "--config",
    propertiesFile,
  ]);
  if (result.code !== 0)
    throw new Error(`Formatting Kafka storage in ${storageDir} failed:\n${result.output}`);
}

/** A Kafka cluster id: 16 random bytes in URL-safe base64, never starting with "-" (Kafka's own rule). */
function newClusterId(): string {
  for (;;) {
    const id = Buffer.from(randomUUID().replaceAll("-", ""), "hex").toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}

const toolsHint =
  "The local Kafka broker needs Java 17+ and Maven on PATH: install them " +
  "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless maven), or set KAFKA_BROKERS to an existing broker.";

/** Copies the pinned jars into stack/libs/ unless they match the current pom.xml already. */
async function ensureJars(log: Log): Promise<void> {
  await ensurePinnedJars({
    pomFile,
    libsDir,
    partialDir: join(stackPaths.data, "kafka-libs.partial"),
    announce: () =>
      log(
        "kafka: fetching the jars pinned in stack/pom.xml with Maven (first start, or stack/pom.xml changed)",
      ),
    fetch: (outputDirectory) =>
      copyPinnedDependencies({ pomFile, outputDirectory, what: "broker's jars", toolsHint }),
  });
}

// The project's own Kafka for machines without Docker: one Apache Kafka 4.x node in KRaft mode (broker and
// controller in one JVM), run from the jars stack/pom.xml pins. The default node listens on localhost:9092 in
// plaintext with its state in .data/kafka/; a KafkaNode describes another (its ports, listeners, TLS and SASL).
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";
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

/** A listener clients connect to; the node advertises it as localhost:<port>. */
export interface KafkaListener {
  name: string;
  port: number;
  protocol: "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL";
}

/** One single-node broker: where its state lives, what it listens on, and how its readiness probe connects. */
export interface KafkaNode {
  /** The folder under .data/ (and the log file's name). */
  name: string;
  listeners: KafkaListener[];
  /** The listener the node talks to itself on (one of `listeners`). */
  interBrokerListener: string;
  controllerPort: number;
  /** More server.properties lines: TLS stores, SASL mechanisms, per-listener settings. */
  extraProperties?: string;
  /** More `kafka-storage format` arguments, e.g. `--add-scram` for SCRAM users that exist from the start. */
  formatArgs?: string[];
  /** The listener and client settings the readiness probe uses. */
  probe: { listener: string; security: KafkaSecurity };
}

/** The node `npm start` and the tests run when KAFKA_BROKERS is unset. */
export const localKafkaNode: KafkaNode = {
  name: "kafka",
  listeners: [{ name: "PLAINTEXT", port: 9092, protocol: "PLAINTEXT" }],
  interBrokerListener: "PLAINTEXT",
  controllerPort: 9093,
  // Explicit, so that the probe of this plaintext node ignores KAFKA_SSL* and KAFKA_SASL_*.
  probe: { listener: "PLAINTEXT", security: {} },
};
export const localKafkaBrokers: readonly string[] = brokersOf(localKafkaNode, "PLAINTEXT");

/** The host:port a client reaches `node`'s `listener` at. */
export function brokersOf(node: KafkaNode, listener: string): string[] {
  const found = node.listeners.find((candidate) => candidate.name === listener);
  if (!found) throw new Error(`Kafka node ${node.name} has no listener ${listener}`);
  return [`${HOST}:${found.port}`];
}

const stackDir = fileURLToPath(new URL(".", import.meta.url));
const pomFile = join(stackDir, "pom.xml");
const libsDir = join(stackDir, "libs");
const log4jFile = join(stackDir, "log4j2.properties");

interface NodePaths {
  dir: string;
  propertiesFile: string;
  storageDir: string;
  pidFile: string;
  lockFile: string;
  logFile: string;
}

function pathsOf(node: KafkaNode): NodePaths {
  const dir = join(stackPaths.data, node.name);
  return {
    dir,
    // The properties file path is in the JVM's command line and unique to this checkout and node, so it tells
    // our broker apart from any other java process that might have inherited a stale pid.
    propertiesFile: join(dir, "server.properties"),
    storageDir: join(dir, "data"),
    pidFile: join(dir, "kafka.pid"),
    lockFile: join(stackPaths.data, `${node.name}.lock`),
    logFile: join(stackPaths.logs, `${node.name}.log`),
  };
}

export const kafkaLogFile = pathsOf(localKafkaNode).logFile;

type Log = (line: string) => void;

/** True when a Kafka broker (ours or anyone's) answers on `node`'s probe listener (localhost:9092). */
export async function kafkaIsRunning(node: KafkaNode = localKafkaNode): Promise<boolean> {
  return brokerAnswers(node);
}

/** The pid of the broker this project started, if it runs. */
export async function localKafkaPid(node: KafkaNode = localKafkaNode): Promise<number | undefined> {
  const paths = pathsOf(node);
  return runningPid(paths.pidFile, paths.propertiesFile);
}

/**
 * The pid of the broker this checkout started, when it is the one serving the node's port: the only broker a
 * test may stop or kill. Undefined while the port belongs to another checkout's broker (or anyone's).
 */
export async function ownKafkaPid(node: KafkaNode = localKafkaNode): Promise<number | undefined> {
  const pid = await localKafkaPid(node);
  return pid !== undefined && (await listensOn(pid, probePort(node))) ? pid : undefined;
}

/**
 * Starts the node (the local broker by default), or reuses one that already answers on its port
 * (`startedByUs: false`). Resolves once a Kafka admin client gets cluster metadata from it.
 */
export async function startKafka(
  log: Log = () => {},
  node: KafkaNode = localKafkaNode,
): Promise<{ brokers: string[]; startedByUs: boolean }> {
  const paths = pathsOf(node);
  const brokers = brokersOf(node, node.probe.listener);
  const port = probePort(node);
  const answers = () => brokerAnswers(node);
  const reused = { brokers, startedByUs: false };
  if (await answers()) return reused;
  return withLock(paths.lockFile, "Kafka", async () => {
    if (await answers()) return reused;
    const booting = await runningPid(paths.pidFile, paths.propertiesFile);
    if (booting !== undefined) {
      await waitForBroker(node, booting);
      return reused;
    }
    if (await isPortOpen(HOST, port)) {
      // Maybe a broker someone else is still starting; give it the time a cold JVM needs.
      await waitUntil(answers, {
        what: `The process listening on ${HOST}:${port}`,
        timeoutMs: 30_000,
      }).catch(() => {
        throw new Error(
          `${HOST}:${port} is taken by something that does not answer as a Kafka broker: stop it, or set KAFKA_BROKERS`,
        );
      });
      return reused;
    }

    const java = await findJava(toolsHint);
    await ensureJars(log);
    await mkdir(paths.storageDir, { recursive: true });
    await writeFile(paths.propertiesFile, serverProperties(node, paths));
    await formatStorageOnce(java, node, paths, log);

    const started = Date.now();
    const pid = await spawnDetached({ command: java, args: jvmArgs(paths), logFile: paths.logFile });
    await writeFile(paths.pidFile, `${pid}\n`);
    await waitForBroker(node, pid);
    log(`kafka: started on ${brokers.join(",")} in ${Date.now() - started} ms (pid ${pid})`);
    return { brokers, startedByUs: true };
  });
}

/** Stops the broker this project started (clean shutdown, SIGKILL after 30 s); a no-op when none runs. */
export async function stopKafka(node: KafkaNode = localKafkaNode): Promise<void> {
  const paths = pathsOf(node);
  await withLock(paths.lockFile, "Kafka", async () => {
    const pid = await runningPid(paths.pidFile, paths.propertiesFile);
    if (pid !== undefined) {
      await stopProcess(pid, { signal: "SIGTERM", marker: paths.propertiesFile, timeoutMs: 30_000 });
    }
    await rm(paths.pidFile, { force: true });
  });
}

function probePort(node: KafkaNode): number {
  return Number(brokersOf(node, node.probe.listener)[0]?.split(":")[1]);
}

async function brokerAnswers(node: KafkaNode): Promise<boolean> {
  // A closed port is the common case while stopped; checking it first skips kafkajs' connect machinery.
  if (!(await isPortOpen(HOST, probePort(node)))) return false;
  const admin = createKafka({
    brokers: brokersOf(node, node.probe.listener),
    clientId: "local-stack-probe",
    connectionTimeoutMs: 1000,
    requestTimeoutMs: 3000,
    retries: 0,
    security: node.probe.security,
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

async function waitForBroker(node: KafkaNode, pid: number): Promise<void> {
  const { logFile, propertiesFile } = pathsOf(node);
  await waitUntil(() => brokerAnswers(node), {
    what: `Kafka (pid ${pid}, log ${logFile})`,
    timeoutMs: 120_000,
    giveUp: async () =>
      (await isProcessAlive(pid, propertiesFile))
        ? undefined
        : `Kafka exited while starting. Last lines of ${logFile}:\n${await tailOfFile(logFile)}`,
  });
}

function serverProperties(node: KafkaNode, paths: NodePaths): string {
  const listeners = node.listeners.map((listener) => `${listener.name}://127.0.0.1:${listener.port}`);
  const advertised = node.listeners.map((listener) => `${listener.name}://${HOST}:${listener.port}`);
  const protocols = node.listeners.map((listener) => `${listener.name}:${listener.protocol}`);
  return `# Written by stack/kafka.ts on every start; edit that file, not this one.
process.roles=broker,controller
node.id=1
listeners=${[...listeners, `CONTROLLER://127.0.0.1:${node.controllerPort}`].join(",")}
advertised.listeners=${advertised.join(",")}
listener.security.protocol.map=${[...protocols, "CONTROLLER:PLAINTEXT"].join(",")}
controller.listener.names=CONTROLLER
inter.broker.listener.name=${node.interBrokerListener}
controller.quorum.bootstrap.servers=127.0.0.1:${node.controllerPort}
log.dirs=${paths.storageDir}

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
${node.extraProperties ?? ""}`;
}

function jvmArgs(paths: NodePaths): string[] {
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
    paths.propertiesFile,
  ];
}

async function formatStorageOnce(java: string, node: KafkaNode, paths: NodePaths, log: Log): Promise<void> {
  const { storageDir, propertiesFile } = paths;
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
    ...(node.formatArgs ?? []),
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

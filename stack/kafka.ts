// The project's own Kafka for machines without Docker: Apache Kafka 4.x in KRaft mode, run from the jars
// stack/pom.xml pins. One node (broker and controller in one JVM) on localhost:9092 by default; with
// KAFKA_BROKER_COUNT=3, three such nodes forming a three-voter quorum on consecutive ports. State in .data/.
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadStackEnv } from "../config/env.ts";
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
const DEFAULT_PORT = 9092;

/** Which local Kafka: how many nodes, and the client port of the first (node i uses basePort + 2i and +1). */
export interface KafkaCluster {
  basePort: number;
  brokerCount: number;
}

/** KAFKA_PORT and KAFKA_BROKER_COUNT (default: one node on 9092). */
export function kafkaClusterFromEnv(env: NodeJS.ProcessEnv = process.env): KafkaCluster {
  const { KAFKA_PORT, KAFKA_BROKER_COUNT } = loadStackEnv(env);
  return { basePort: KAFKA_PORT, brokerCount: KAFKA_BROKER_COUNT };
}

/** The client port of node `index` (0-based). Its controller listens one port above. */
export function kafkaNodePort(index: number, cluster: KafkaCluster = kafkaClusterFromEnv()): number {
  return cluster.basePort + 2 * index;
}

/** Kafka's node.id of node `index`: partition metadata names leaders and replicas by it. */
export function kafkaNodeId(index: number): number {
  return index + 1;
}

/** The bootstrap list of the local Kafka: every node, so clients survive the loss of any one. */
export function localKafkaBrokers(cluster: KafkaCluster = kafkaClusterFromEnv()): string[] {
  return nodeIndexes(cluster).map((index) => `${HOST}:${kafkaNodePort(index, cluster)}`);
}

const stackDir = fileURLToPath(new URL(".", import.meta.url));
const pomFile = join(stackDir, "pom.xml");
const libsDir = join(stackDir, "libs");
const log4jFile = join(stackDir, "log4j2.properties");

const isDefault = (cluster: KafkaCluster) => cluster.basePort === DEFAULT_PORT && cluster.brokerCount === 1;

/** The development broker keeps .data/kafka/; any other shape gets a directory of its own. */
function clusterDir(cluster: KafkaCluster): string {
  if (isDefault(cluster)) return join(stackPaths.data, "kafka");
  return join(stackPaths.data, `kafka-${cluster.basePort}-${cluster.brokerCount}n`);
}

function nodePaths(cluster: KafkaCluster, index: number) {
  const dir = cluster.brokerCount === 1 ? clusterDir(cluster) : join(clusterDir(cluster), `node-${index}`);
  const propertiesFile = join(dir, "server.properties");
  return {
    propertiesFile,
    storageDir: join(dir, "data"),
    pidFile: join(dir, "kafka.pid"),
    logFile: isDefault(cluster)
      ? join(stackPaths.logs, "kafka.log")
      : join(stackPaths.logs, `kafka-${kafkaNodePort(index, cluster)}.log`),
    // The properties file path is in the JVM's command line and unique to this checkout and node, so it tells
    // our broker apart from any other java process that might have inherited a stale pid.
    marker: propertiesFile,
  };
}

const lockFileOf = (cluster: KafkaCluster) =>
  isDefault(cluster) ? join(stackPaths.data, "kafka.lock") : `${clusterDir(cluster)}.lock`;

/** The log of the first node (the only one by default). */
export const kafkaLogFile = nodePaths({ basePort: DEFAULT_PORT, brokerCount: 1 }, 0).logFile;

/** Where node `index` writes its log. */
export function kafkaNodeLogFile(index: number, cluster: KafkaCluster = kafkaClusterFromEnv()): string {
  return nodePaths(cluster, index).logFile;
}

const nodeIndexes = (cluster: KafkaCluster) => Array.from({ length: cluster.brokerCount }, (_, i) => i);

type Log = (line: string) => void;

/** True when the local Kafka (ours or anyone's) answers with all its brokers registered. */
export async function kafkaIsRunning(cluster: KafkaCluster = kafkaClusterFromEnv()): Promise<boolean> {
  return clusterAnswers(cluster);
}

/** The pid of the first node this project started, if it runs. */
export async function localKafkaPid(
  cluster: KafkaCluster = kafkaClusterFromEnv(),
): Promise<number | undefined> {
  return kafkaNodePid(0, cluster);
}

/** The pid of node `index` as this checkout started it, if it runs (whatever port it holds). */
export async function kafkaNodePid(
  index: number,
  cluster: KafkaCluster = kafkaClusterFromEnv(),
): Promise<number | undefined> {
  const paths = nodePaths(cluster, index);
  return runningPid(paths.pidFile, paths.marker);
}

/**
 * The pid of the first node this checkout started, when it is the one serving its port: the only broker a
 * test may stop or kill. Undefined while the port belongs to another checkout's broker (or anyone's).
 */
export async function ownKafkaPid(
  cluster: KafkaCluster = kafkaClusterFromEnv(),
): Promise<number | undefined> {
  const pid = await localKafkaPid(cluster);
  return pid !== undefined && (await listensOn(pid, kafkaNodePort(0, cluster))) ? pid : undefined;
}

/**
 * Starts the local Kafka (every node at once, so the quorum can form), or reuses one that already answers
 * with all its brokers (`startedByUs: false`). Resolves once an admin client sees every broker registered.
 */
export async function startKafka(
  log: Log = () => {},
  cluster: KafkaCluster = kafkaClusterFromEnv(),
): Promise<{ brokers: string[]; startedByUs: boolean }> {
  const brokers = localKafkaBrokers(cluster);
  const reused = { brokers, startedByUs: false };
  if (await clusterAnswers(cluster)) return reused;
  return withLock(lockFileOf(cluster), "Kafka", async () => {
    if (await clusterAnswers(cluster)) return reused;
    const pids = await Promise.all(nodeIndexes(cluster).map((index) => kafkaNodePid(index, cluster)));
    const ports = await Promise.all(
      nodeIndexes(cluster).map((index) => isPortOpen("127.0.0.1", kafkaNodePort(index, cluster))),
    );
    if (pids.every((pid) => pid !== undefined)) {
      await waitForCluster(cluster, pids as number[]);
      return reused;
    }
    if (pids.every((pid) => pid === undefined) && ports.some(Boolean)) {
      // Maybe a broker someone else is still starting; give it the time a cold JVM needs.
      await waitUntil(() => clusterAnswers(cluster), {
        what: `The process listening on ${brokers.join(",")}`,
        timeoutMs: 30_000,
      }).catch(() => {
        throw new Error(
          `${brokers.join(",")} is taken by something that does not answer as ${describeShape(cluster)}: ` +
            "stop it, set KAFKA_PORT to free ports, or set KAFKA_BROKERS",
        );
      });
      return reused;
    }

    const started = Date.now();
    const java = await findJava(toolsHint);
    await ensureJars(log);
    const startedPids: number[] = [];
    for (const index of nodeIndexes(cluster)) {
      const running = pids[index];
      if (running !== undefined) {
        startedPids.push(running);
        continue;
      }
      if (ports[index]) {
        throw new Error(
          `${HOST}:${kafkaNodePort(index, cluster)} (node ${index}) is taken by another process: stop it, or ` +
            "set KAFKA_PORT to free ports",
        );
      }
      startedPids.push(await spawnNode(java, cluster, index, log));
    }
    await waitForCluster(cluster, startedPids);
    log(
      `kafka: ${describeShape(cluster)} started on ${brokers.join(",")} in ${Date.now() - started} ms ` +
        `(pid ${startedPids.join(", ")})`,
    );
    return { brokers, startedByUs: true };
  });
}

/**
 * Starts node `index` of a cluster whose other nodes may be running (say, after it was killed), on its
 * existing storage, and resolves once it is registered again. A no-op when it runs already.
 */
export async function startKafkaNode(
  index: number,
  cluster: KafkaCluster = kafkaClusterFromEnv(),
  log: Log = () => {},
): Promise<number> {
  checkIndex(index, cluster);
  return withLock(lockFileOf(cluster), "Kafka", async () => {
    const running = await kafkaNodePid(index, cluster);
    const pid = running ?? (await spawnNode(await findJava(toolsHint), cluster, index, log));
    await waitUntil(() => nodeAnswers(cluster, index), {
      what: `Kafka node ${index} (pid ${pid}, log ${kafkaNodeLogFile(index, cluster)})`,
      timeoutMs: 120_000,
      giveUp: () => exitedWhileStarting(cluster, index, pid),
    });
    return pid;
  });
}

/** SIGKILLs node `index` (a crash, for fault tests) and waits until the process is gone. */
export async function killKafkaNode(
  index: number,
  cluster: KafkaCluster = kafkaClusterFromEnv(),
): Promise<void> {
  checkIndex(index, cluster);
  const pid = await kafkaNodePid(index, cluster);
  if (pid === undefined) return;
  await stopProcess(pid, { signal: "SIGKILL", marker: nodePaths(cluster, index).marker, timeoutMs: 10_000 });
}

/** Stops node `index` cleanly (controlled shutdown hands its leaderships over first). */
export async function stopKafkaNode(
  index: number,
  cluster: KafkaCluster = kafkaClusterFromEnv(),
): Promise<void> {
  checkIndex(index, cluster);
  const paths = nodePaths(cluster, index);
  const pid = await kafkaNodePid(index, cluster);
  if (pid !== undefined)
    await stopProcess(pid, { signal: "SIGTERM", marker: paths.marker, timeoutMs: 30_000 });
  await rm(paths.pidFile, { force: true });
}

/**
 * Stops every node this project started (clean shutdown, SIGKILL after 30 s); a no-op when none runs. All
 * at once: stopped one by one, the last nodes would wait on a quorum that has already left.
 */
export async function stopKafka(cluster: KafkaCluster = kafkaClusterFromEnv()): Promise<void> {
  await withLock(lockFileOf(cluster), "Kafka", async () => {
    await Promise.all(nodeIndexes(cluster).map((index) => stopKafkaNode(index, cluster)));
  });
}

/** Stops every Kafka this checkout started, whatever its shape or ports (its directories under .data/). */
export async function stopAllKafka(): Promise<void> {
  const entries = await readdir(stackPaths.data).catch(() => [] as string[]);
  const clusters = entries.flatMap((entry): KafkaCluster[] => {
    if (entry === "kafka") return [{ basePort: DEFAULT_PORT, brokerCount: 1 }];
    const shape = /^kafka-(\d+)-(\d+)n$/.exec(entry);
    return shape ? [{ basePort: Number(shape[1]), brokerCount: Number(shape[2]) }] : [];
  });
  await Promise.all(clusters.map((cluster) => stopKafka(cluster)));
}

export interface KafkaNodeState {
  index: number;
  nodeId: number;
  port: number;
  pid: number | undefined;
  /** Registered with the cluster (describeCluster lists it). */
  up: boolean;
}

export interface KafkaClusterState {
  nodes: KafkaNodeState[];
  /** The active controller, by the quorum state the nodes keep on disk; undefined when none is known. */
  controllerLeader: number | undefined;
  /** Partitions whose in-sync replicas are fewer than their replicas; undefined when no broker answers. */
  underReplicatedPartitions: number | undefined;
}

/** What `npm run stack:status` prints: each node, the quorum's leader, and replication health. */
export async function describeKafkaCluster(
  cluster: KafkaCluster = kafkaClusterFromEnv(),
): Promise<KafkaClusterState> {
  const registered = new Set<number>();
  let underReplicatedPartitions: number | undefined;
  if (await anyPortOpen(cluster)) {
    const admin = probeAdmin(localKafkaBrokers(cluster));
    try {
      await admin.connect();
      for (const broker of (await admin.describeCluster()).brokers) registered.add(broker.port);
      const { topics } = await admin.fetchTopicMetadata({ topics: await admin.listTopics() });
      underReplicatedPartitions = topics
        .flatMap((topic) => topic.partitions)
        .filter((partition) => partition.isr.length < partition.replicas.length).length;
    } catch {
      // Whatever was learnt before the failure stands; the rest reads as down / unknown.
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
  const nodes = await Promise.all(
    nodeIndexes(cluster).map(async (index) => ({
      index,
      nodeId: kafkaNodeId(index),
      port: kafkaNodePort(index, cluster),
      pid: await kafkaNodePid(index, cluster),
      up: registered.has(kafkaNodePort(index, cluster)),
    })),
  );
  return { nodes, controllerLeader: await quorumLeader(cluster), underReplicatedPartitions };
}

/**
 * The KRaft quorum's leader as the nodes last recorded it (`quorum-state` in the metadata log directory,
 * rewritten at each election): the newest epoch among the running nodes wins. kafkajs has no DescribeQuorum,
 * and the controller id a broker's Metadata answer carries is a random broker under KRaft.
 */
async function quorumLeader(cluster: KafkaCluster): Promise<number | undefined> {
  let best: { epoch: number; leader: number } | undefined;
  for (const index of nodeIndexes(cluster)) {
    if ((await kafkaNodePid(index, cluster)) === undefined) continue;
    const file = join(nodePaths(cluster, index).storageDir, "__cluster_metadata-0", "quorum-state");
    const state = await readFile(file, "utf8")
      .then((text) => JSON.parse(text) as { leaderId?: number; leaderEpoch?: number })
      .catch(() => undefined);
    const leader = state?.leaderId ?? -1;
    const epoch = state?.leaderEpoch ?? -1;
    if (leader >= 0 && (best === undefined || epoch > best.epoch)) best = { epoch, leader };
  }
  return best?.leader;
}

function checkIndex(index: number, cluster: KafkaCluster): void {
  if (!Number.isInteger(index) || index < 0 || index >= cluster.brokerCount) {
    throw new Error(
      `Kafka node ${index} does not exist: the cluster has nodes 0..${cluster.brokerCount - 1}`,
    );
  }
}

const describeShape = (cluster: KafkaCluster) =>
  cluster.brokerCount === 1 ? "a Kafka broker" : `a Kafka cluster of ${cluster.brokerCount} brokers`;

async function anyPortOpen(cluster: KafkaCluster): Promise<boolean> {
  const open = await Promise.all(
    nodeIndexes(cluster).map((index) => isPortOpen("127.0.0.1", kafkaNodePort(index, cluster))),
  );
  return open.some(Boolean);
}

function probeAdmin(brokers: string[]) {
  return createKafka({
    brokers,
    clientId: "local-stack-probe",
    connectionTimeoutMs: 1000,
    requestTimeoutMs: 3000,
    retries: 0,
  }).admin();
}

/** Every node of the cluster registered, as seen through any of them. */
async function clusterAnswers(cluster: KafkaCluster): Promise<boolean> {
  // A closed port is the common case while stopped; checking it first skips kafkajs' connect machinery.
  if (!(await anyPortOpen(cluster))) return false;
  return (await registeredBrokers(localKafkaBrokers(cluster))) >= cluster.brokerCount;
}

/** Node `index` answers on its own port and is registered with the cluster. */
async function nodeAnswers(cluster: KafkaCluster, index: number): Promise<boolean> {
  const port = kafkaNodePort(index, cluster);
  if (!(await isPortOpen("127.0.0.1", port))) return false;
  const admin = probeAdmin([`${HOST}:${port}`]);
  try {
    await admin.connect();
    const { brokers } = await admin.describeCluster();
    return brokers.some((broker) => broker.nodeId === kafkaNodeId(index));
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function registeredBrokers(brokers: string[]): Promise<number> {
  const admin = probeAdmin(brokers);
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.length;
  } catch {
    return 0;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function exitedWhileStarting(cluster: KafkaCluster, index: number, pid: number) {
  const paths = nodePaths(cluster, index);
  if (await isProcessAlive(pid, paths.marker)) return undefined;
  return `Kafka node ${index} exited while starting. Last lines of ${paths.logFile}:\n${await tailOfFile(paths.logFile)}`;
}

async function waitForCluster(cluster: KafkaCluster, pids: number[]): Promise<void> {
  await waitUntil(() => clusterAnswers(cluster), {
    what: `Kafka (pid ${pids.join(", ")}, log ${nodePaths(cluster, 0).logFile})`,
    timeoutMs: 120_000,
    giveUp: async () => {
      for (const [index, pid] of pids.entries()) {
        const reason = await exitedWhileStarting(cluster, index, pid);
        if (reason) return reason;
      }
      return undefined;
    },
  });
}

/** Writes node `index`'s properties, formats its storage the first time, and starts its JVM. */
async function spawnNode(java: string, cluster: KafkaCluster, index: number, log: Log): Promise<number> {
  const paths = nodePaths(cluster, index);
  await mkdir(paths.storageDir, { recursive: true });
  const identity = await clusterIdentity(cluster);
  await writeFile(paths.propertiesFile, serverProperties(cluster, index));
  await formatStorageOnce(java, cluster, index, identity, log);
  const pid = await spawnDetached({
    command: java,
    args: jvmArgs(paths.propertiesFile),
    logFile: paths.logFile,
  });
  await writeFile(paths.pidFile, `${pid}\n`);
  return pid;
}

interface ClusterIdentity {
  clusterId: string;
  /** One storage directory id per controller, which the initial voter set names (KIP-853). */
  directoryIds: string[];
}

/** Made once per cluster and kept beside its nodes, so a node formatted later joins the same cluster. */
async function clusterIdentity(cluster: KafkaCluster): Promise<ClusterIdentity> {
  const file = join(clusterDir(cluster), "cluster.json");
  const stored = await readFile(file, "utf8")
    .then((text) => JSON.parse(text) as ClusterIdentity)
    .catch(() => undefined);
  if (stored && stored.directoryIds.length === cluster.brokerCount) return stored;
  const identity = {
    clusterId: newKafkaUuid(),
    directoryIds: nodeIndexes(cluster).map(() => newKafkaUuid()),
  };
  await mkdir(clusterDir(cluster), { recursive: true });
  await writeFile(file, `${JSON.stringify(identity, null, 2)}\n`);
  return identity;
}

function serverProperties(cluster: KafkaCluster, index: number): string {
  const port = kafkaNodePort(index, cluster);
  const quorum = nodeIndexes(cluster)
    .map((node) => `127.0.0.1:${kafkaNodePort(node, cluster) + 1}`)
    .join(",");
  const replicated = cluster.brokerCount >= 3;
  // Internal topics (consumer offsets, transaction state) must survive a broker like the event topics do.
  const replicas = replicated ? 3 : 1;
  const minIsr = replicated ? 2 : 1;
  return `# Written by stack/kafka.ts on every start; edit that file, not this one.
process.roles=broker,controller
node.id=${kafkaNodeId(index)}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${port + 1}
advertised.listeners=PLAINTEXT://${HOST}:${port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
controller.quorum.bootstrap.servers=${quorum}
log.dirs=${nodePaths(cluster, index).storageDir}
${
  replicated
    ? `# Each node stands for its own rack (zone), so replica placement spreads every partition over all of them.
broker.rack=rack-${index}
`
    : ""
}
# ${replicated ? "A cluster: internal topics get three replicas and need two in sync." : "One node: every internal topic must fit on it, or consumers hang on FindCoordinator."}
offsets.topic.replication.factor=${replicas}
transaction.state.log.replication.factor=${replicas}
transaction.state.log.min.isr=${minIsr}
share.coordinator.state.topic.replication.factor=${replicas}
share.coordinator.state.topic.min.isr=${minIsr}
default.replication.factor=${replicas}
min.insync.replicas=${minIsr}
# An out-of-sync replica never becomes leader: that would drop writes acknowledged with acks=all.
unclean.leader.election.enable=false

# Topics come from the event catalog (events/), never from a typo in a producer.
auto.create.topics.enable=false
num.partitions=1
group.initial.rebalance.delay.ms=0

# Internal topics default to 50 partitions, which makes the first group or transaction on a fresh node
# wait for 50 partition leaders; a local stack gains nothing from them.
offsets.topic.num.partitions=${cluster.brokerCount}
transaction.state.log.num.partitions=${cluster.brokerCount}
share.coordinator.state.topic.num.partitions=1

# The compaction dedupe buffer is allocated up front (128 MB by default) out of a small heap.
log.cleaner.dedupe.buffer.size=${replicated ? 16777216 : 33554432}
`;
}

function jvmArgs(propertiesFile: string): string[] {
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

async function formatStorageOnce(
  java: string,
  cluster: KafkaCluster,
  index: number,
  identity: ClusterIdentity,
  log: Log,
): Promise<void> {
  const { storageDir, propertiesFile } = nodePaths(cluster, index);
  // meta.properties holds the cluster id once formatted; formatting again would be refused anyway.
  if (existsSync(join(storageDir, "meta.properties"))) return;
  log(`kafka: formatting storage in ${storageDir}`);
  // One node is its own quorum (--standalone); a cluster's nodes are all formatted with the same initial
  // voter set, each node finding its own directory id in it.
  const voters =
    cluster.brokerCount === 1
      ? ["--standalone"]
      : [
          "--initial-controllers",
          nodeIndexes(cluster)
            .map(
              (node) =>
                `${kafkaNodeId(node)}@127.0.0.1:${kafkaNodePort(node, cluster) + 1}:${identity.directoryIds[node]}`,
            )
            .join(","),
        ];
  const result = await runCommand(java, [
    `-Dlog4j2.configurationFile=${log4jFile}`,
    "-cp",
    join(libsDir, "*"),
    "kafka.tools.StorageTool",
    "format",
    ...voters,
    "--ignore-formatted",
    "--cluster-id",
    identity.clusterId,
    "--config",
    propertiesFile,
  ]);
  if (result.code !== 0)
    throw new Error(`Formatting Kafka storage in ${storageDir} failed:\n${result.output}`);
}

/** A Kafka uuid (cluster id, directory id): 16 random bytes in URL-safe base64, never starting with "-". */
function newKafkaUuid(): string {
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

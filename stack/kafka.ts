// The project's own Kafka for machines without Docker: Apache Kafka 4.x in KRaft mode, run from the jars
// stack/pom.xml pins. A local Kafka is a list of KafkaNode values (broker and controller in one JVM each, one
// cluster id, all of them voters): by default one plaintext node on localhost:9092 with its state in
// .data/kafka/; with KAFKA_BROKER_COUNT=3, three nodes on consecutive ports; a KafkaNode of its own describes
// any other (its ports, listeners, TLS and SASL), a cluster of one.
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadStackEnv } from "../config/env.ts";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";
import { projectPath } from "../config/projectRoot.ts";
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

/** A listener clients connect to; the node advertises it as localhost:<port>. */
export interface KafkaListener {
  name: string;
  port: number;
  protocol: "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL";
}

/** One combined broker and controller: where its state lives, what it listens on, how its probe connects. */
export interface KafkaNode {
  /** The folder under .data/. */
  name: string;
  /** The log file's name under .data/logs/ (without .log); unset, `name`. */
  logName?: string;
  /** Kafka's node.id; unset, 1. Partition metadata names leaders and replicas by it. */
  nodeId?: number;
  listeners: KafkaListener[];
  /** The listener the node talks to the other brokers (and itself) on (one of `listeners`). */
  interBrokerListener: string;
  /** The controller listener's port (plaintext, loopback only); the cluster's voters are its nodes' ones. */
  controllerPort: number;
  /** The node's rack (zone): replica placement spreads every partition over the racks. */
  rack?: string;
  /** More server.properties lines: TLS stores, SASL mechanisms, per-listener settings. */
  extraProperties?: string;
  /** More `kafka-storage format` arguments, e.g. `--add-scram` for SCRAM users that exist from the start. */
  formatArgs?: string[];
  /**
   * Kafka's StandardAuthorizer (KRaft's ACL store) with these super users (`User:<name>`), who bypass every ACL;
   * unset, no authorizer: every client may do anything. The controller listener's principal, User:ANONYMOUS
   * (plaintext, on the loopback address only), is always one of them: the node registers and heartbeats over it.
   */
  authorizer?: { superUsers: readonly string[] };
  /** The listener and client settings the readiness probe uses. */
  probe: { listener: string; security: KafkaSecurity };
}

/** The plaintext local Kafka by its shape: how many nodes, and the client port of the first. */
export interface KafkaCluster {
  basePort: number;
  brokerCount: number;
}

/** What the functions below run: a plaintext cluster by its shape, or one node of its own (a cluster of one). */
export type LocalKafka = KafkaCluster | KafkaNode;

/** KAFKA_PORT and KAFKA_BROKER_COUNT (default: one node on 9092). */
export function kafkaClusterFromEnv(env: NodeJS.ProcessEnv = process.env): KafkaCluster {
  const { KAFKA_PORT, KAFKA_BROKER_COUNT } = loadStackEnv(env);
  return { basePort: KAFKA_PORT, brokerCount: KAFKA_BROKER_COUNT };
}

/** The host:port a client reaches `node`'s `listener` at. */
export function brokersOf(node: KafkaNode, listener: string): string[] {
  const found = node.listeners.find((candidate) => candidate.name === listener);
  if (!found) throw new Error(`Kafka node ${node.name} has no listener ${listener}`);
  return [`${HOST}:${found.port}`];
}

/** The client port of node `index` (0-based): its probe listener's. */
export function kafkaNodePort(index: number, kafka: LocalKafka = kafkaClusterFromEnv()): number {
  return probePort(nodeAt(kafka, index));
}

/** Kafka's node.id of node `index` of a cluster by its shape. */
export function kafkaNodeId(index: number): number {
  return index + 1;
}

/** The bootstrap list of the local Kafka: every node, so clients survive the loss of any one. */
export function localKafkaBrokers(kafka: LocalKafka = kafkaClusterFromEnv()): string[] {
  return nodesOf(kafka).flatMap((node) => brokersOf(node, node.probe.listener));
}

const stackDir = projectPath("stack");
const pomFile = join(stackDir, "pom.xml");
const libsDir = join(stackDir, "libs");
const log4jFile = join(stackDir, "log4j2.properties");

const isNode = (kafka: LocalKafka): kafka is KafkaNode => "listeners" in kafka;
const isDefault = (cluster: KafkaCluster) => cluster.basePort === DEFAULT_PORT && cluster.brokerCount === 1;

/**
 * The nodes of `kafka`. Node i of a shape listens on basePort + 2i (plaintext) and basePort + 2i + 1
 * (controller); the development broker keeps .data/kafka/, any other shape gets a directory of its own.
 */
function nodesOf(kafka: LocalKafka): KafkaNode[] {
  if (isNode(kafka)) return [kafka];
  const replicated = kafka.brokerCount >= 3;
  return Array.from({ length: kafka.brokerCount }, (_, index): KafkaNode => {
    const port = kafka.basePort + 2 * index;
    return {
      name: kafka.brokerCount === 1 ? clusterName(kafka) : `${clusterName(kafka)}/node-${index}`,
      logName: isDefault(kafka) ? "kafka" : `kafka-${port}`,
      nodeId: kafkaNodeId(index),
      listeners: [{ name: "PLAINTEXT", port, protocol: "PLAINTEXT" }],
      interBrokerListener: "PLAINTEXT",
      controllerPort: port + 1,
      // Each node stands for its own rack (zone), so replica placement spreads every partition over all.
      rack: replicated ? `rack-${index}` : undefined,
      // Explicit, so that the probe of a plaintext node ignores KAFKA_SSL* and KAFKA_SASL_*.
      probe: { listener: "PLAINTEXT", security: {} },
    };
  });
}

function clusterName(kafka: LocalKafka): string {
  if (isNode(kafka)) return kafka.name;
  return isDefault(kafka) ? "kafka" : `kafka-${kafka.basePort}-${kafka.brokerCount}n`;
}

function nodeAt(kafka: LocalKafka, index: number): KafkaNode {
  const nodes = nodesOf(kafka);
  const node = nodes[index];
  if (!Number.isInteger(index) || node === undefined) {
    throw new Error(`Kafka node ${index} does not exist: the cluster has nodes 0..${nodes.length - 1}`);
  }
  return node;
}

const idOf = (node: KafkaNode) => node.nodeId ?? 1;

/** The node `npm start` and the tests run when KAFKA_BROKERS, KAFKA_PORT and KAFKA_BROKER_COUNT are unset. */
export const localKafkaNode: KafkaNode = nodesOf({ basePort: DEFAULT_PORT, brokerCount: 1 })[0] as KafkaNode;

function nodePaths(node: KafkaNode) {
  const dir = join(stackPaths.data, node.name);
  const propertiesFile = join(dir, "server.properties");
  return {
    propertiesFile,
    storageDir: join(dir, "data"),
    pidFile: join(dir, "kafka.pid"),
    logFile: join(stackPaths.logs, `${node.logName ?? node.name}.log`),
    // The properties file path is in the JVM's command line and unique to this checkout and node, so it tells
    // our broker apart from any other java process that might have inherited a stale pid.
    marker: propertiesFile,
  };
}

const clusterDir = (kafka: LocalKafka) => join(stackPaths.data, clusterName(kafka));
const lockFileOf = (kafka: LocalKafka) => `${clusterDir(kafka)}.lock`;

/** The log of the development broker. */
export const kafkaLogFile = nodePaths(localKafkaNode).logFile;

/** Where node `index` writes its log. */
export function kafkaNodeLogFile(index: number, kafka: LocalKafka = kafkaClusterFromEnv()): string {
  return nodePaths(nodeAt(kafka, index)).logFile;
}

const nodeIndexes = (kafka: LocalKafka) => nodesOf(kafka).map((_, index) => index);

type Log = (line: string) => void;

/** True when the local Kafka (ours or anyone's) answers with all its brokers registered. */
export async function kafkaIsRunning(kafka: LocalKafka = kafkaClusterFromEnv()): Promise<boolean> {
  return clusterAnswers(kafka);
}

/** The pid of the first node this project started, if it runs. */
export async function localKafkaPid(kafka: LocalKafka = kafkaClusterFromEnv()): Promise<number | undefined> {
  return kafkaNodePid(0, kafka);
}

/** The pid of node `index` as this checkout started it, if it runs (whatever port it holds). */
export async function kafkaNodePid(
  index: number,
  kafka: LocalKafka = kafkaClusterFromEnv(),
): Promise<number | undefined> {
  const paths = nodePaths(nodeAt(kafka, index));
  return runningPid(paths.pidFile, paths.marker);
}

/**
 * The pid of the first node this checkout started, when it is the one serving its port: the only broker a
 * test may stop or kill. Undefined while the port belongs to another checkout's broker (or anyone's).
 */
export async function ownKafkaPid(kafka: LocalKafka = kafkaClusterFromEnv()): Promise<number | undefined> {
  const pid = await localKafkaPid(kafka);
  return pid !== undefined && (await listensOn(pid, kafkaNodePort(0, kafka))) ? pid : undefined;
}

/**
 * Starts the local Kafka (every node at once, so the quorum can form), or reuses one that already answers
 * with all its brokers (`startedByUs: false`). Resolves once an admin client sees every broker registered
 * and every partition led.
 */
export async function startKafka(
  log: Log = () => {},
  kafka: LocalKafka = kafkaClusterFromEnv(),
): Promise<{ brokers: string[]; startedByUs: boolean }> {
  const brokers = localKafkaBrokers(kafka);
  const reused = { brokers, startedByUs: false };
  if (await clusterAnswers(kafka)) return reused;
  return withLock(lockFileOf(kafka), "Kafka", async () => {
    if (await clusterAnswers(kafka)) return reused;
    const nodes = nodesOf(kafka);
    const pids = await Promise.all(nodeIndexes(kafka).map((index) => kafkaNodePid(index, kafka)));
    const ports = await Promise.all(nodes.map((node) => isPortOpen("127.0.0.1", probePort(node))));
    if (pids.every((pid) => pid !== undefined)) {
      await waitForCluster(kafka, pids as number[]);
      return reused;
    }
    if (pids.every((pid) => pid === undefined) && ports.some(Boolean)) {
      // Maybe a broker someone else is still starting; give it the time a cold JVM needs.
      await waitUntil(() => clusterAnswers(kafka), {
        what: `The process listening on ${brokers.join(",")}`,
        timeoutMs: 30_000,
      }).catch(() => {
        throw new Error(
          `${brokers.join(",")} is taken by something that does not answer as ${describeShape(kafka)}: ` +
            "stop it, set KAFKA_PORT to free ports, or set KAFKA_BROKERS",
        );
      });
      return reused;
    }

    const started = Date.now();
    const java = await findJava(toolsHint);
    await ensureJars(log);
    const startedPids: number[] = [];
    for (const index of nodeIndexes(kafka)) {
      const running = pids[index];
      if (running !== undefined) {
        startedPids.push(running);
        continue;
      }
      if (ports[index]) {
        throw new Error(
          `${brokers[index]} (node ${index}) is taken by another process: stop it, or set KAFKA_PORT to free ports`,
        );
      }
      // The controller listens on a port of its own: taken, the JVM died with a stack trace of a BindException.
      const { controllerPort } = nodes[index] as KafkaNode;
      if (await isPortOpen("127.0.0.1", controllerPort)) {
        throw new Error(
          `127.0.0.1:${controllerPort}, node ${index}'s controller port (its client port + 1), is taken by another process: stop it, or set KAFKA_PORT to free ports`,
        );
      }
      startedPids.push(await spawnNode(java, kafka, index, log));
    }
    await waitForCluster(kafka, startedPids);
    log(
      `kafka: ${describeShape(kafka)} started on ${brokers.join(",")} in ${Date.now() - started} ms ` +
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
  kafka: LocalKafka = kafkaClusterFromEnv(),
  log: Log = () => {},
): Promise<number> {
  const node = nodeAt(kafka, index);
  return withLock(lockFileOf(kafka), "Kafka", async () => {
    const running = await kafkaNodePid(index, kafka);
    const pid = running ?? (await spawnNode(await findJava(toolsHint), kafka, index, log));
    await waitUntil(() => nodeAnswers(node), {
      what: `Kafka node ${index} (pid ${pid}, log ${nodePaths(node).logFile})`,
      timeoutMs: 120_000,
      giveUp: () => exitedWhileStarting(node, index, pid),
    });
    return pid;
  });
}

/** SIGKILLs node `index` (a crash, for fault tests) and waits until the process is gone. */
export async function killKafkaNode(index: number, kafka: LocalKafka = kafkaClusterFromEnv()): Promise<void> {
  const node = nodeAt(kafka, index);
  const pid = await kafkaNodePid(index, kafka);
  if (pid === undefined) return;
  await stopProcess(pid, { signal: "SIGKILL", marker: nodePaths(node).marker, timeoutMs: 10_000 });
}

/** Stops node `index` cleanly (controlled shutdown hands its leaderships over first). */
export async function stopKafkaNode(index: number, kafka: LocalKafka = kafkaClusterFromEnv()): Promise<void> {
  const paths = nodePaths(nodeAt(kafka, index));
  const pid = await kafkaNodePid(index, kafka);
  if (pid !== undefined)
    await stopProcess(pid, { signal: "SIGTERM", marker: paths.marker, timeoutMs: 30_000 });
  await rm(paths.pidFile, { force: true });
}

/**
 * Stops every node this project started (clean shutdown, SIGKILL after 30 s); a no-op when none runs. All
 * at once: stopped one by one, the last nodes would wait on a quorum that has already left.
 */
export async function stopKafka(kafka: LocalKafka = kafkaClusterFromEnv()): Promise<void> {
  await withLock(lockFileOf(kafka), "Kafka", async () => {
    await Promise.all(nodeIndexes(kafka).map((index) => stopKafkaNode(index, kafka)));
  });
}

/** Stops every plaintext Kafka this checkout started, whatever its shape or ports (its directories in .data/). */
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
  kafka: LocalKafka = kafkaClusterFromEnv(),
): Promise<KafkaClusterState> {
  const registered = new Set<number>();
  let underReplicatedPartitions: number | undefined;
  if (await anyPortOpen(kafka)) {
    const admin = probeAdmin(kafka);
    try {
      await admin.connect();
      for (const broker of (await admin.describeCluster()).brokers) registered.add(broker.nodeId);
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
    nodesOf(kafka).map(async (node, index) => ({
      index,
      nodeId: idOf(node),
      port: probePort(node),
      pid: await kafkaNodePid(index, kafka),
      up: registered.has(idOf(node)),
    })),
  );
  return { nodes, controllerLeader: await quorumLeader(kafka), underReplicatedPartitions };
}

/**
 * The KRaft quorum's leader as the nodes last recorded it (`quorum-state` in the metadata log directory,
 * rewritten at each election): the newest epoch among the running nodes wins. kafkajs has no DescribeQuorum,
 * and the controller id a broker's Metadata answer carries is a random broker under KRaft.
 */
async function quorumLeader(kafka: LocalKafka): Promise<number | undefined> {
  let best: { epoch: number; leader: number } | undefined;
  for (const [index, node] of nodesOf(kafka).entries()) {
    if ((await kafkaNodePid(index, kafka)) === undefined) continue;
    const file = join(nodePaths(node).storageDir, "__cluster_metadata-0", "quorum-state");
    const state = await readFile(file, "utf8")
      .then((text) => JSON.parse(text) as { leaderId?: number; leaderEpoch?: number })
      .catch(() => undefined);
    const leader = state?.leaderId ?? -1;
    const epoch = state?.leaderEpoch ?? -1;
    if (leader >= 0 && (best === undefined || epoch > best.epoch)) best = { epoch, leader };
  }
  return best?.leader;
}

const describeShape = (kafka: LocalKafka) => {
  const count = nodesOf(kafka).length;
  return count === 1 ? "a Kafka broker" : `a Kafka cluster of ${count} brokers`;
};

function probePort(node: KafkaNode): number {
  return Number(brokersOf(node, node.probe.listener)[0]?.split(":")[1]);
}

async function anyPortOpen(kafka: LocalKafka): Promise<boolean> {
  const open = await Promise.all(nodesOf(kafka).map((node) => isPortOpen("127.0.0.1", probePort(node))));
  return open.some(Boolean);
}

function probeAdmin(kafka: LocalKafka) {
  return createKafka({
    brokers: localKafkaBrokers(kafka),
    clientId: "local-stack-probe",
    connectionTimeoutMs: 1000,
    requestTimeoutMs: 3000,
    retries: 0,
    // Every node of a cluster shares its listeners' protocols, so the first node's probe settings serve all.
    security: nodesOf(kafka)[0]?.probe.security ?? {},
  }).admin();
}

/**
 * Every node of the cluster registered, and every partition led, as seen through any of them. A node lists
 * itself as soon as it has registered, but leads nothing until the controller unfences it: a topic created in
 * that moment gets no leader, and kafkajs gives up on it.
 */
async function clusterAnswers(kafka: LocalKafka): Promise<boolean> {
  // A closed port is the common case while stopped; checking it first skips kafkajs' connect machinery.
  if (!(await anyPortOpen(kafka))) return false;
  const admin = probeAdmin(kafka);
  try {
    await admin.connect();
    if ((await admin.describeCluster()).brokers.length < nodesOf(kafka).length) return false;
    const { topics } = await admin.fetchTopicMetadata();
    return topics.every((topic) => topic.partitions.every((partition) => partition.leader >= 0));
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** `node` answers on its own port and is registered with the cluster. */
async function nodeAnswers(node: KafkaNode): Promise<boolean> {
  if (!(await isPortOpen("127.0.0.1", probePort(node)))) return false;
  const admin = probeAdmin(node);
  try {
    await admin.connect();
    const { brokers } = await admin.describeCluster();
    return brokers.some((broker) => broker.nodeId === idOf(node));
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function exitedWhileStarting(node: KafkaNode, index: number, pid: number) {
  const paths = nodePaths(node);
  if (await isProcessAlive(pid, paths.marker)) return undefined;
  return `Kafka node ${index} exited while starting. Last lines of ${paths.logFile}:\n${await tailOfFile(paths.logFile)}`;
}

async function waitForCluster(kafka: LocalKafka, pids: number[]): Promise<void> {
  const nodes = nodesOf(kafka);
  await waitUntil(() => clusterAnswers(kafka), {
    what: `Kafka (pid ${pids.join(", ")}, log ${nodePaths(nodes[0] as KafkaNode).logFile})`,
    timeoutMs: 120_000,
    giveUp: async () => {
      for (const [index, pid] of pids.entries()) {
        const reason = await exitedWhileStarting(nodes[index] as KafkaNode, index, pid);
        if (reason) return reason;
      }
      return undefined;
    },
  });
}

/** Writes node `index`'s properties, formats its storage the first time, and starts its JVM. */
async function spawnNode(java: string, kafka: LocalKafka, index: number, log: Log): Promise<number> {
  const nodes = nodesOf(kafka);
  const node = nodes[index] as KafkaNode;
  const paths = nodePaths(node);
  await mkdir(paths.storageDir, { recursive: true });
  const identity = await clusterIdentity(kafka);
  await writeFile(paths.propertiesFile, serverProperties(node, nodes));
  await formatStorageOnce(java, nodes, index, identity, log);
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
async function clusterIdentity(kafka: LocalKafka): Promise<ClusterIdentity> {
  const count = nodesOf(kafka).length;
  const file = join(clusterDir(kafka), "cluster.json");
  const stored = await readFile(file, "utf8")
    .then((text) => JSON.parse(text) as ClusterIdentity)
    .catch(() => undefined);
  if (stored && stored.directoryIds.length === count) return stored;
  const identity = {
    clusterId: newKafkaUuid(),
    directoryIds: Array.from({ length: count }, () => newKafkaUuid()),
  };
  await mkdir(clusterDir(kafka), { recursive: true });
  await writeFile(file, `${JSON.stringify(identity, null, 2)}\n`);
  return identity;
}

function serverProperties(node: KafkaNode, nodes: KafkaNode[]): string {
  const listeners = node.listeners.map((listener) => `${listener.name}://127.0.0.1:${listener.port}`);
  const advertised = node.listeners.map((listener) => `${listener.name}://${HOST}:${listener.port}`);
  const protocols = node.listeners.map((listener) => `${listener.name}:${listener.protocol}`);
  const quorum = nodes.map((voter) => `127.0.0.1:${voter.controllerPort}`).join(",");
  const replicated = nodes.length >= 3;
  // Internal topics (consumer offsets, transaction state) must survive a broker like the event topics do.
  const replicas = replicated ? 3 : 1;
  const minIsr = replicated ? 2 : 1;
  return `# Written by stack/kafka.ts on every start; edit that file, not this one.
process.roles=broker,controller
node.id=${idOf(node)}
listeners=${[...listeners, `CONTROLLER://127.0.0.1:${node.controllerPort}`].join(",")}
advertised.listeners=${advertised.join(",")}
listener.security.protocol.map=${[...protocols, "CONTROLLER:PLAINTEXT"].join(",")}
controller.listener.names=CONTROLLER
inter.broker.listener.name=${node.interBrokerListener}
controller.quorum.bootstrap.servers=${quorum}
log.dirs=${nodePaths(node).storageDir}
${node.rack === undefined ? "" : `broker.rack=${node.rack}\n`}
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
offsets.topic.num.partitions=${nodes.length}
transaction.state.log.num.partitions=${nodes.length}
share.coordinator.state.topic.num.partitions=1

# Back-to-back transactions: Connect's producer (transaction.version 2) lets the broker add each partition to a
# new transaction as its first record arrives, refused CONCURRENT_TRANSACTIONS while the last commit's markers
# are still being written (a millisecond or two), and the broker asks again after this wait (default 20 ms).
add.partitions.to.txn.retry.backoff.ms=2

# The compaction dedupe buffer is allocated up front (128 MB by default) out of a small heap.
log.cleaner.dedupe.buffer.size=${replicated ? 16777216 : 33554432}
${authorizerProperties(node)}${node.extraProperties ?? ""}`;
}

/**
 * ACLs checked on every request. The controller listener is plaintext, so the node itself (and anything else on
 * the loopback address that reaches the controller port) is User:ANONYMOUS there, and must be a super user.
 */
function authorizerProperties(node: KafkaNode): string {
  if (node.authorizer === undefined) return "";
  const superUsers = ["User:ANONYMOUS", ...node.authorizer.superUsers];
  return `# Every request is checked against the ACLs (KRaft's own store); super users bypass them.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=${[...new Set(superUsers)].join(";")}
`;
}

function jvmArgs(propertiesFile: string): string[] {
  return [
    "-Xms256m",
    "-Xmx768m",
    // G1 with a 20 ms pause goal, as Kafka's own start script runs brokers, on at most two GC threads (the
    // machine's two cores are shared with Postgres and Node). Serial GC's young collections of this heap took
    // 44 ms on average under bench:relay, and every request in flight waited them out; G1's took 14 ms, and the
    // polling relay's commit-to-ack p99 fell from 88-99 ms to 57-81 ms (docs/performance.md).
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:ParallelGCThreads=2",
    "-XX:ConcGCThreads=1",
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
  nodes: KafkaNode[],
  index: number,
  identity: ClusterIdentity,
  log: Log,
): Promise<void> {
  const node = nodes[index] as KafkaNode;
  const { storageDir, propertiesFile } = nodePaths(node);
  // meta.properties holds the cluster id once formatted; formatting again would be refused anyway.
  if (existsSync(join(storageDir, "meta.properties"))) return;
  log(`kafka: formatting storage in ${storageDir}`);
  // One node is its own quorum (--standalone); a cluster's nodes are all formatted with the same initial
  // voter set, each node finding its own directory id in it.
  const voters =
    nodes.length === 1
      ? ["--standalone"]
      : [
          "--initial-controllers",
          nodes
            .map(
              (voter, at) => `${idOf(voter)}@127.0.0.1:${voter.controllerPort}:${identity.directoryIds[at]}`,
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
    ...(node.formatArgs ?? []),
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

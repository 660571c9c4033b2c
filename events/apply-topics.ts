// Brings the broker's topics in line with the catalog: creates the missing ones, adds missing partitions and
// replicas (as many as the cluster's size calls for) and resets drifted configs. It never deletes a topic, a
// partition, a record or a config it does not manage.
// `npm run topics` (scripts/topics.ts) runs it against KAFKA_BROKERS (default localhost:9092) and prints what it did.
import { setTimeout as sleep } from "node:timers/promises";
import { textTable } from "../cli/textTable.ts";
import { ConfigError, type Env, loadEnv } from "../config/env.ts";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";
import { type Admin, createKafka } from "../kafka/client.ts";
import { topics as catalogTopics, type TopicDefinition } from "./catalog.ts";

// Kafka protocol codes. kafka/client.ts re-exports kafkajs's types only, not its enums.
const TOPIC_RESOURCE = 2; // ConfigResourceTypes.TOPIC
const SET_ON_TOPIC = 1; // ConfigSource.TOPIC_CONFIG: an override on the topic itself, not a broker default

/** What applyTopics needs of a topic; the catalog's definitions by default, scratch topics in tests. */
export type TopicSpec = Pick<TopicDefinition, "partitions" | "configs"> & { readonly name: string };

export interface TopicReport {
  topic: string;
  outcome: "created" | "updated" | "unchanged";
  /** The topic's partition count after applying. */
  partitions: number;
  /** What was changed, one line each, e.g. `retention.ms: 86400000 -> 604800000`. */
  changes: string[];
  /** What needs a person, e.g. more partitions than cataloged, which Kafka cannot undo. */
  warnings: string[];
}

export interface ApplyTopicsSummary {
  /** What every topic was given. */
  replication: TopicReplication;
  created: string[];
  updated: string[];
  unchanged: string[];
  reports: TopicReport[];
}

export interface TopicLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface ApplyTopicsOptions {
  topics?: readonly TopicSpec[];
  log?: TopicLog;
  /** Replicas per partition and the in-sync replicas a write needs; by default from topicReplication(). */
  replication?: TopicReplication;
  /**
   * The TLS and SASL settings `admin` was made with; unset, the environment's (KAFKA_SSL*, KAFKA_SASL_*). The
   * wait for new topics asks each broker through a client of its own, which must log in like `admin` did.
   */
  security?: KafkaSecurity;
}

/** How many copies of each partition the cluster keeps, and how many must hold a write before it is acked. */
export interface TopicReplication {
  factor: number;
  minInsyncReplicas: number;
}

/**
 * The replication topics get: KAFKA_REPLICATION_FACTOR and KAFKA_MIN_INSYNC_REPLICAS when set, else 3 and 2
 * on a cluster of three or more brokers (as many as are registered, or as KAFKA_BROKER_COUNT says the local
 * cluster has, so that one broker down at the time does not make new topics single-copy), else 1 and 1.
 * Refuses a combination no acks=all write could satisfy.
 */
export async function topicReplication(admin: Admin, env: Env = loadEnv()): Promise<TopicReplication> {
  const registered = (await admin.describeCluster()).brokers.length;
  const brokers = Math.max(registered, env.KAFKA_BROKER_COUNT);
  const factor = env.KAFKA_REPLICATION_FACTOR ?? (brokers >= 3 ? 3 : 1);
  const minInsyncReplicas = env.KAFKA_MIN_INSYNC_REPLICAS ?? (factor >= 3 ? 2 : 1);
  if (minInsyncReplicas > factor) {
    throw new ConfigError([
      `KAFKA_MIN_INSYNC_REPLICAS=${JSON.stringify(String(minInsyncReplicas))}: exceeds the replication factor ` +
        `${factor}, so no acks=all write could ever succeed`,
    ]);
  }
  if (factor > registered) {
    throw new ConfigError([
      `KAFKA_REPLICATION_FACTOR: topics need ${factor} replicas but only ${registered} broker(s) are registered ` +
        "(start the missing brokers, or set KAFKA_REPLICATION_FACTOR lower)",
    ]);
  }
  return { factor, minInsyncReplicas };
}

/** The topic configs that follow from the replication: they are set on every topic the catalog manages. */
function replicationConfigs(replication: TopicReplication): Record<string, string> {
  return {
    "min.insync.replicas": String(replication.minInsyncReplicas),
    // Never elect an out-of-sync replica as leader: that would silently drop writes acknowledged with acks=all.
    "unclean.leader.election.enable": "false",
  };
}

const consoleLog: TopicLog = {
  info: (message) => console.log(message),
  warn: (message) => console.warn(message),
};

export async function applyTopics(
  admin: Admin,
  options: ApplyTopicsOptions = {},
): Promise<ApplyTopicsSummary> {
  const log = options.log ?? consoleLog;
  const replication = options.replication ?? (await topicReplication(admin));
  const specs = (options.topics ?? catalogTopics).map((spec) => ({
    ...spec,
    configs: { ...spec.configs, ...replicationConfigs(replication) },
  }));

  const existing = new Set(await admin.listTopics());
  const reports = new Map<string, TopicReport>();
  const toReconcile = specs.filter((spec) => existing.has(spec.name));

  const created: TopicSpec[] = [];
  // One request per topic, so that a topic another process created a moment ago is told apart (createTopics
  // answers false) and then reconciled like any existing topic.
  await Promise.all(
    specs
      .filter((spec) => !existing.has(spec.name))
      .map(async (spec) => {
        if (!(await createTopic(admin, spec, replication.factor))) {
          toReconcile.push(spec);
          return;
        }
        created.push(spec);
        log.info(
          `${spec.name}: created with ${spec.partitions} partitions of ${replication.factor} replicas`,
        );
        reports.set(spec.name, {
          topic: spec.name,
          outcome: "created",
          partitions: spec.partitions,
          changes: [],
          warnings: [],
        });
      }),
  );
  await untilTopicsServed(admin, created, options.security);

  for (const report of await reconcile(admin, toReconcile, replication, log))
    reports.set(report.topic, report);

  const ordered = specs.map((spec) => reports.get(spec.name)).filter((report) => report !== undefined);
  const named = (outcome: TopicReport["outcome"]) =>
    ordered.filter((report) => report.outcome === outcome).map((report) => report.topic);
  return {
    replication,
    created: named("created"),
    updated: named("updated"),
    unchanged: named("unchanged"),
    reports: ordered,
  };
}

/**
 * Creates one topic; false when it already exists. A broker that has just started answers before it has
 * registered itself, refusing every replication factor: that answer is retried for a while, so that
 * `stack:up` followed at once by applyTopics works.
 */
async function createTopic(
  admin: Admin,
  spec: TopicSpec,
  replicationFactor: number,
  timeoutMs = 30_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await admin.createTopics({
        waitForLeaders: false,
        topics: [
          {
            topic: spec.name,
            numPartitions: spec.partitions,
            replicationFactor,
            configEntries: configEntries(spec.configs),
          },
        ],
      });
    } catch (error) {
      const reasons = kafkaErrors(error);
      const starting =
        reasons.length > 0 && reasons.every((reason) => reason.type === "INVALID_REPLICATION_FACTOR");
      if (starting && Date.now() < deadline) {
        await sleep(250);
        continue;
      }
      const detail = reasons.map((reason) => reason.message).join("; ") || String(error);
      throw new Error(`${spec.name}: cannot create the topic: ${detail}`, { cause: error });
    }
  }
}

/** kafkajs reports per-topic failures as an aggregate error whose `errors` carry Kafka's error names. */
function kafkaErrors(error: unknown): Array<{ type?: string; message: string }> {
  const errors = (error as { errors?: unknown } | null)?.errors;
  return Array.isArray(errors) ? errors : [];
}

/**
 * Waits until every broker serves every partition of the new topics with a leader, so producers can write
 * as soon as applyTopics returns, whichever broker they ask. kafkajs's own wait (`waitForLeaders`) gives up
 * on the UNKNOWN_TOPIC_OR_PARTITION that a KRaft broker answers for a moment while a new topic reaches its
 * metadata cache, and asks one broker only: on a cluster another may lag behind it.
 */
export async function untilTopicsServed(
  admin: Admin,
  specs: ReadonlyArray<Pick<TopicSpec, "name" | "partitions">>,
  security: KafkaSecurity | undefined,
  timeoutMs = 30_000,
): Promise<void> {
  if (specs.length === 0) return;
  const { brokers } = await admin.describeCluster();
  const names = specs.map((spec) => spec.name);
  const wanted = specs.reduce((sum, spec) => sum + spec.partitions, 0);
  await Promise.all(
    brokers.map(async ({ host, port }) => {
      // Seeded with one broker only, a kafkajs admin sends its metadata requests to that broker.
      const one = createKafka({
        brokers: [`${host}:${port}`],
        clientId: "apply-topics",
        retries: 0,
        security,
      }).admin();
      const deadline = Date.now() + timeoutMs;
      let lastError: unknown = null;
      try {
        while (Date.now() < deadline) {
          try {
            await one.connect();
            const { topics } = await one.fetchTopicMetadata({ topics: names });
            const led = topics
              .flatMap((topic) => topic.partitions)
              .filter((partition) => partition.leader >= 0);
            if (led.length >= wanted) return;
          } catch (error) {
            lastError = error;
          }
          await sleep(100);
        }
      } finally {
        await one.disconnect().catch(() => undefined);
      }
      throw new Error(
        `${names.join(", ")}: created, but broker ${host}:${port} serves no leader for every partition after ${timeoutMs} ms`,
        { cause: lastError },
      );
    }),
  );
}

/** Adds missing partitions and replicas, and resets drifted configs, of topics that already exist. */
async function reconcile(
  admin: Admin,
  specs: readonly TopicSpec[],
  replication: TopicReplication,
  log: TopicLog,
): Promise<TopicReport[]> {
  if (specs.length === 0) return [];
  const names = specs.map((spec) => spec.name);
  const [metadata, described] = await Promise.all([
    admin.fetchTopicMetadata({ topics: names }),
    admin.describeConfigs({
      resources: names.map((name) => ({ type: TOPIC_RESOURCE, name })),
      includeSynonyms: false,
    }),
  ]);

  const reports: TopicReport[] = [];
  for (const spec of specs) {
    const report: TopicReport = {
      topic: spec.name,
      outcome: "unchanged",
      partitions: spec.partitions,
      changes: [],
      warnings: [],
    };

    const partitions = metadata.topics.find((topic) => topic.name === spec.name)?.partitions.length;
    if (partitions === undefined)
      throw new Error(`${spec.name}: the broker returned no metadata for the topic`);
    report.partitions = partitions;
    if (partitions < spec.partitions) {
      await admin.createPartitions({ topicPartitions: [{ topic: spec.name, count: spec.partitions }] });
      report.partitions = spec.partitions;
      report.changes.push(`partitions: ${partitions} -> ${spec.partitions}`);
      // Adding partitions re-maps keys: events of one aggregate written before and after may sit on two
      // partitions, so consumers can see that aggregate's events around this moment out of order.
      log.warn(
        `${spec.name}: added partitions ${partitions} -> ${spec.partitions}; keys now hash differently, so ` +
          "an aggregate's events written just before and after may be consumed out of order",
      );
    } else if (partitions > spec.partitions) {
      const warning =
        `has ${partitions} partitions where the catalog says ${spec.partitions}; left as it is ` +
        "(Kafka cannot remove partitions; change the catalog or recreate the topic by hand)";
      report.warnings.push(warning);
      log.warn(`${spec.name}: ${warning}`);
    }

    // Before the configs: min.insync.replicas=2 on a topic that still has one replica would refuse every write.
    await raiseReplication(admin, spec.name, replication.factor, report, log);

    const resource = described.resources.find((entry) => entry.resourceName === spec.name);
    if (resource === undefined || resource.errorCode !== 0) {
      throw new Error(
        `${spec.name}: cannot read the topic's configs (${resource?.errorMessage ?? "no answer from the broker"})`,
      );
    }
    const current = new Map(resource.configEntries.map((entry) => [entry.configName, entry]));
    // A value inherited from the broker counts as drift even when it happens to be equal (7 days is Kafka's
    // default retention): the topic must keep the catalog's value when someone changes the broker's default.
    const drifted = Object.entries(spec.configs).filter(([name, value]) => {
      const entry = current.get(name);
      return entry?.configValue !== value || entry.configSource !== SET_ON_TOPIC;
    });
    if (drifted.length > 0) {
      // AlterConfigs (the only config call kafkajs has) replaces a topic's whole set of overrides, so the
      // overrides someone set by hand outside the catalog's keys are sent back unchanged to keep them.
      const keptOverrides = resource.configEntries
        .filter(
          (entry) => entry.configSource === SET_ON_TOPIC && !entry.readOnly && entry.configValue !== null,
        )
        .map((entry) => [entry.configName, entry.configValue] as const);
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: TOPIC_RESOURCE,
            name: spec.name,
            configEntries: configEntries({ ...Object.fromEntries(keptOverrides), ...spec.configs }),
          },
        ],
      });
      for (const [name, value] of drifted) {
        const was = current.get(name);
        const change =
          was?.configValue === value
            ? `${name}: ${value} set on the topic (was the broker's default)`
            : `${name}: ${was?.configValue ?? "(unset)"} -> ${value}`;
        report.changes.push(change);
        log.info(`${spec.name}: ${change}`);
      }
    }

    if (report.changes.length > 0) report.outcome = "updated";
    reports.push(report);
  }
  return reports;
}

/**
 * Gives every partition of `topic` with fewer than `factor` replicas the missing ones by partition
 * reassignment (Kafka copies the data to the new replicas, then adds them to the in-sync set), and waits
 * until it is done. Existing replicas stay, the leader first, so nothing moves that need not; the added ones
 * rotate over the brokers by partition so each broker leads and follows its share. A partition with more
 * replicas than `factor` is left alone with a warning: taking copies away is for a person to decide.
 */
async function raiseReplication(
  admin: Admin,
  topic: string,
  factor: number,
  report: TopicReport,
  log: TopicLog,
  timeoutMs = 10 * 60_000,
): Promise<void> {
  const [{ brokers }, { topics }] = await Promise.all([
    admin.describeCluster(),
    admin.fetchTopicMetadata({ topics: [topic] }),
  ]);
  const brokerIds = brokers.map((broker) => broker.nodeId).sort((a, b) => a - b);
  const partitions = [...(topics[0]?.partitions ?? [])].sort((a, b) => a.partitionId - b.partitionId);
  const before = Math.min(...partitions.map((partition) => partition.replicas.length));
  const most = Math.max(...partitions.map((partition) => partition.replicas.length));
  if (most > factor) {
    const warning = `has partitions of ${most} replicas where ${factor} are wanted; left as they are`;
    report.warnings.push(warning);
    log.warn(`${topic}: ${warning}`);
  }
  const short = partitions.filter((partition) => partition.replicas.length < factor);
  if (short.length === 0) return;
  if (brokerIds.length < factor) {
    throw new Error(
      `${topic}: needs ${factor} replicas per partition but only ${brokerIds.length} broker(s) are registered`,
    );
  }
  const partitionAssignment = short.map((partition) => {
    const current = [partition.leader, ...partition.replicas.filter((id) => id !== partition.leader)].filter(
      (id) => id >= 0 && partition.replicas.includes(id),
    );
    const rotated = brokerIds.map(
      (_, i) => brokerIds[(partition.partitionId + i) % brokerIds.length] as number,
    );
    const added = rotated.filter((id) => !current.includes(id)).slice(0, factor - current.length);
    return { partition: partition.partitionId, replicas: [...current, ...added] };
  });
  await admin.alterPartitionReassignments({ topics: [{ topic, partitionAssignment }] });
  log.info(`${topic}: adding replicas to ${short.length} partition(s), ${before} -> ${factor}`);

  const moving = short.map((partition) => partition.partitionId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ongoing = await admin.listPartitionReassignments({ topics: [{ topic, partitions: moving }] });
    const done = ongoing.topics.every((entry) => entry.partitions.length === 0);
    if (done) {
      const { topics: after } = await admin.fetchTopicMetadata({ topics: [topic] });
      const inSync = (after[0]?.partitions ?? []).every((partition) => partition.isr.length >= factor);
      if (inSync) break;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${topic}: the reassignment to ${factor} replicas is still running after ${timeoutMs / 1000} s; ` +
          "it goes on in the cluster: run `npm run topics` again to see it finish",
      );
    }
    await sleep(500);
  }
  report.changes.push(`replicas: ${before} -> ${factor}`);
}

function configEntries(configs: Readonly<Record<string, string>>) {
  return Object.entries(configs).map(([name, value]) => ({ name, value }));
}

/** The summary as a table, one topic per line, for people running `npm run topics`. */
export function formatSummary(
  summary: ApplyTopicsSummary,
  specs: readonly TopicSpec[] = catalogTopics,
): string {
  const dayMs = 24 * 60 * 60 * 1000;
  const header = ["topic", "partitions", "cleanup", "retention", "outcome", "changes"];
  const rows = summary.reports.map((report) => {
    const configs = specs.find((spec) => spec.name === report.topic)?.configs ?? {};
    const retentionMs = Number(configs["retention.ms"]);
    return [
      report.topic,
      String(report.partitions),
      configs["cleanup.policy"] ?? "",
      Number.isFinite(retentionMs) ? `${retentionMs / dayMs} days` : "",
      report.outcome,
      [...report.changes, ...report.warnings.map((warning) => `WARNING: ${warning}`)].join("; "),
    ];
  });
  const totals =
    `${summary.created.length} created, ${summary.updated.length} updated, ` +
    `${summary.unchanged.length} unchanged`;
  const replicas =
    `every topic: ${summary.replication.factor} replica(s), ` +
    `min.insync.replicas=${summary.replication.minInsyncReplicas}, unclean.leader.election.enable=false`;
  return [...textTable(header, rows), "", replicas, totals].join("\n");
}

// `npm run bench:kafka-clients`: the project's Kafka client (kafkajs, through kafka/client.ts) against
// @platformatic/kafka on the relay's publish path and a group consumer's read path, the same records for both,
// each run in a process of its own (bench/kafkaClients/run.ts), the clients taking turns round after round so
// that a busy machine slows both alike. Prints one table.
//
//   BENCH_EVENTS (default 50000)   records per run (catalog events, sealed, ~700 B)
//   BENCH_ROUNDS (default 3)       runs of each client and path; the table shows the median round
//   KAFKA_BROKERS, KAFKA_COMPRESSION   as for the relay; topics bench-kafka-clients-* are created and deleted
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseCommand } from "../cli/command.ts";
import { DEFAULT_KAFKA_COMPRESSION, loadEnv } from "../config/env.ts";
import { topics as catalogTopics } from "../events/catalog.ts";
import { createIdempotentProducer, createKafka } from "../kafka/client.ts";
import { localKafkaBrokers } from "../stack/index.ts";
import { catalogRecords } from "./catalogRecords.ts";
import type { ClientName, RunFigures, RunPlan } from "./kafkaClients/run.ts";
import { printTable } from "./table.ts";

parseCommand({
  usage: `usage: npm run bench:kafka-clients
  kafkajs (the project's client) against @platformatic/kafka: the relay's publish path (idempotent, acks=all,
  KAFKA_COMPRESSION, relay-sized batches) and a group consumer, the same records, one process per run, the
  clients taking turns; prints one table. From the environment:
  BENCH_EVENTS (default 50000)   records per run
  BENCH_ROUNDS (default 3)       runs of each client and path (the median is shown)
  KAFKA_BROKERS (localhost:9092), KAFKA_COMPRESSION (${DEFAULT_KAFKA_COMPRESSION})`,
});

const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const env = loadEnv();
const brokers = env.KAFKA_BROKERS ?? localKafkaBrokers();
const compression = env.KAFKA_COMPRESSION;
const CLIENTS: ClientName[] = ["kafkajs", "platformatic"];
const CLIENT_LABELS: Record<ClientName, string> = {
  kafkajs: "kafkajs 2.2.4",
  platformatic: "@platformatic/kafka 1.35.0",
};

/**
 * The relay reads up to 1,000 rows per poll: a catch-up sends full batches, a relay keeping up with 1,000
 * events/s sends a few rows per poll. The consumer is measured per 1,000 records read.
 */
const SCENARIOS = [
  { path: "publish" as const, batch: 1_000, events: EVENTS },
  { path: "publish" as const, batch: 10, events: Math.min(EVENTS, 5_000) },
  { path: "consume" as const, batch: 1_000, events: EVENTS },
].map((scenario) => ({
  ...scenario,
  label:
    scenario.path === "publish"
      ? `publish ${scenario.events.toLocaleString("en")}, batches of ${scenario.batch.toLocaleString("en")}`
      : `consume ${scenario.events.toLocaleString("en")} (group), per ${scenario.batch.toLocaleString("en")}`,
}));

const prefix = `bench-kafka-clients-${randomUUID().slice(0, 8)}-`;
const consumeTopic = `${prefix}consume`;
const kafka = createKafka({ brokers, clientId: "bench-kafka-clients" });
const admin = kafka.admin();
await admin.connect();
const directory = await mkdtemp(join(tmpdir(), "bench-kafka-clients-"));
const loadBefore = loadavg();

try {
  // Bench copies of the catalog topics (same partitions and limits), and one topic for the consumers to read.
  const patientEvents = catalogTopics.find((topic) => topic.name === "patient-events");
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      ...catalogTopics.map((topic) => ({
        topic: `${prefix}${topic.name}`,
        numPartitions: topic.partitions,
        replicationFactor: 1,
        configEntries: [{ name: "max.message.bytes", value: topic.configs["max.message.bytes"] ?? "" }],
      })),
      { topic: consumeTopic, numPartitions: patientEvents?.partitions ?? 6, replicationFactor: 1 },
    ],
  });

  const records = catalogRecords(EVENTS);
  const recordsFiles = new Map<number, string>();
  for (const events of new Set(SCENARIOS.map((scenario) => scenario.events))) {
    const file = join(directory, `records-${events}.json`);
    await writeFile(file, JSON.stringify(records.slice(0, events)));
    recordsFiles.set(events, file);
  }
  // The consumers' topic holds the same records, written once by the relay's producer.
  const producer = createIdempotentProducer(kafka, compression);
  await producer.connect();
  for (let from = 0; from < EVENTS; from += 1_000) {
    const messages = records
      .slice(from, from + 1_000)
      .map(({ key, value, headers }) => ({ key, value, headers }));
    await producer.sendBatch({ acks: -1, topicMessages: [{ topic: consumeTopic, messages }] });
  }
  await producer.disconnect();

  const results = new Map<string, RunFigures[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      // Alternate who goes first, so neither always meets the warmer (or busier) broker.
      const order = round % 2 === 0 ? CLIENTS : [...CLIENTS].reverse();
      for (const client of order) {
        const plan: RunPlan = {
          client,
          path: scenario.path,
          brokers,
          compression,
          recordsFile: recordsFiles.get(scenario.events) as string,
          batch: scenario.batch,
          topicPrefix: prefix,
          consumeTopic,
        };
        console.error(`round ${round + 1}/${ROUNDS}: ${CLIENT_LABELS[client]}, ${scenario.label}`);
        const key = `${scenario.label}|${client}`;
        results.set(key, [...(results.get(key) ?? []), await measure(plan)]);
      }
    }
  }

  const percentile = (values: number[], p: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
  };
  const rate = (run: RunFigures) => run.events / run.seconds;
  const rows: string[][] = [];
  for (const scenario of SCENARIOS) {
    const medians = new Map<ClientName, number>();
    for (const client of CLIENTS) {
      const runs = [...(results.get(`${scenario.label}|${client}`) ?? [])].sort((a, b) => rate(a) - rate(b));
      const median = runs[Math.floor(runs.length / 2)];
      if (!median) continue;
      medians.set(client, rate(median));
      const allBatches = runs.flatMap((run) => run.batchMs);
      const cpuPerThousand = percentile(
        runs.map((run) => run.cpuMicros / run.events),
        50,
      );
      rows.push([
        CLIENT_LABELS[client],
        scenario.label,
        `${Math.round(rate(median)).toLocaleString("en")}`,
        `${runs.map((run) => Math.round(rate(run)).toLocaleString("en")).join(" / ")}`,
        `${percentile(allBatches, 50).toFixed(1)} / ${percentile(allBatches, 99).toFixed(1)} ms`,
        `${cpuPerThousand.toFixed(0)} ms`,
        `${Math.round(Math.max(...runs.map((run) => run.peakRssBytes)) / 1024 / 1024)} MiB`,
        client === "platformatic"
          ? `${((rate(median) / (medians.get("kafkajs") ?? Number.NaN)) * 100).toFixed(0)}% of kafkajs`
          : "",
      ]);
    }
  }
  const load = (values: number[]) => values.map((value) => value.toFixed(1)).join(" ");
  printTable(
    `Kafka clients, catalog events (sealed), ${ROUNDS} rounds, compression ${compression}, Kafka ${brokers.join(",")}; load average ${load(loadBefore)} before, ${load(loadavg())} after`,
    rows,
    [
      "client",
      "path",
      "events/s (median)",
      "events/s (each round)",
      "per batch p50 / p99",
      "CPU per 1k events",
      "peak RSS",
      "ratio",
    ],
  );
} finally {
  await admin
    .deleteTopics({ topics: [...catalogTopics.map((topic) => `${prefix}${topic.name}`), consumeTopic] })
    .catch(() => {});
  await admin.disconnect();
  await rm(directory, { recursive: true, force: true });
}

async function measure(plan: RunPlan): Promise<RunFigures> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", join(import.meta.dirname, "kafkaClients", "run.ts")],
    { env: { ...process.env, BENCH_RUN: JSON.stringify(plan) }, maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as RunFigures;
}

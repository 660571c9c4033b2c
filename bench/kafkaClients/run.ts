// One measured run of the Kafka client benchmark, in a process of its own so that its CPU time and memory are
// its own: `tsx bench/kafkaClients/run.ts` with the plan in BENCH_RUN (JSON, written by kafkaClients.bench.ts).
// Prints the figures as one JSON line on stdout.
import { readFile } from "node:fs/promises";
import type { Compression } from "../../kafka/client.ts";
import type { CatalogRecord } from "../catalogRecords.ts";
import type { BenchClient } from "./client.ts";
import { kafkajsClient } from "./kafkajs.ts";
import { platformaticClient } from "./platformatic.ts";

export type ClientName = "kafkajs" | "platformatic";
export type BenchPath = "publish" | "consume";

export interface RunPlan {
  client: ClientName;
  path: BenchPath;
  brokers: string[];
  compression: Compression;
  /** The records, one JSON array, shared by every run so that both clients send the very same bytes. */
  recordsFile: string;
  /** Records per publish request; for the consumer, records per measured slice. */
  batch: number;
  /** publish: records go to the bench copy of their catalog topic, `${topicPrefix}${topic}`. */
  topicPrefix: string;
  /** consume: the topic holding the records, already written. */
  consumeTopic: string;
}

export interface RunFigures {
  events: number;
  seconds: number;
  /** Milliseconds per publish request, or per `batch` consumed records. */
  batchMs: number[];
  cpuMicros: number;
  peakRssBytes: number;
}

const clients: Record<ClientName, BenchClient> = { kafkajs: kafkajsClient, platformatic: platformaticClient };

const plan = JSON.parse(process.env.BENCH_RUN ?? "") as RunPlan;
const client = clients[plan.client];
const records = JSON.parse(await readFile(plan.recordsFile, "utf8")) as CatalogRecord[];
let peakRssBytes = 0;
const sampleRss = () => {
  peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
};

const figures = plan.path === "publish" ? await publish() : await consume();
process.stdout.write(`${JSON.stringify(figures)}\n`);
process.exit(0);

async function publish(): Promise<RunFigures> {
  const routed = records.map((record) => ({ ...record, topic: `${plan.topicPrefix}${record.topic}` }));
  const publisher = await client.publisher(plan.brokers, plan.compression);
  // Unmeasured: connections, metadata and the idempotent producer id, which both clients fetch on first use.
  await publisher.publish(routed.slice(0, plan.batch));
  const batchMs: number[] = [];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let from = 0; from < routed.length; from += plan.batch) {
    const sent = performance.now();
    await publisher.publish(routed.slice(from, from + plan.batch));
    batchMs.push(performance.now() - sent);
    sampleRss();
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await publisher.close();
  return { events: routed.length, seconds, batchMs, cpuMicros: cpu.user + cpu.system, peakRssBytes };
}

async function consume(): Promise<RunFigures> {
  const batchMs: number[] = [];
  let seen = 0;
  let first = 0;
  let sliceStarted = 0;
  let last = 0;
  const cpuBefore = process.cpuUsage();
  await client.consume(plan.brokers, plan.consumeTopic, records.length, (envelope) => {
    if (typeof envelope !== "object" || envelope === null) throw new Error("a record is not an envelope");
    const now = performance.now();
    if (seen === 0) first = sliceStarted = now;
    seen++;
    last = now;
    if (seen % plan.batch === 0) {
      batchMs.push(now - sliceStarted);
      sliceStarted = now;
      sampleRss();
    }
  });
  const cpu = process.cpuUsage(cpuBefore);
  // Throughput counts from the first record: joining a new group waits for the broker's
  // group.initial.rebalance.delay.ms, the same for both clients and no measure of either.
  return {
    events: seen,
    seconds: (last - first) / 1000,
    batchMs,
    cpuMicros: cpu.user + cpu.system,
    peakRssBytes,
  };
}

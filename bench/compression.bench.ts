// `npm run bench:compression`: the catalog's events, sealed as the write path seals them, produced by the
// relay's producer with each KAFKA_COMPRESSION: bytes on the broker against throughput and CPU.
//
//   BENCH_EVENTS (default 20000)   events per codec, sent 1,000 per request like the relay's batches
//   KAFKA_BROKERS                  the broker (localhost:9092 unless set); topics bench-compression-* are
//                                  created and deleted. "bytes on the broker" reads the broker's log
//                                  directory, so it needs the broker on this machine (else n/a).
import { randomUUID } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseCommand } from "../cli/command.ts";
import { loadEnv } from "../config/env.ts";
import { COMPRESSIONS, type Compression, createIdempotentProducer, createKafka } from "../kafka/client.ts";
import { localKafkaBrokers } from "../stack/index.ts";
import { type CatalogRecord, catalogRecords } from "./catalogRecords.ts";
import { printTable } from "./table.ts";

parseCommand({
  usage: `usage: npm run bench:compression
  the catalog's events produced with each KAFKA_COMPRESSION (none, gzip, lz4, zstd): bytes on the broker against
  throughput and CPU; BENCH_EVENTS (20000) per codec; KAFKA_BROKERS names the broker (localhost:9092)`,
});
const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const PER_REQUEST = 1_000;
const brokers = loadEnv().KAFKA_BROKERS ?? localKafkaBrokers();
const kafka = createKafka({ brokers, clientId: "bench-compression" });
const admin = kafka.admin();
await admin.connect();

async function logDirectory(): Promise<string | null> {
  const { brokers: nodes } = await admin.describeCluster();
  const node = nodes[0];
  if (!node) return null;
  const { resources } = await admin.describeConfigs({
    resources: [{ type: 4 /* BROKER */, name: String(node.nodeId), configNames: ["log.dirs", "log.dir"] }],
    includeSynonyms: false,
  });
  const entries = resources[0]?.configEntries ?? [];
  const dirs =
    entries.find((entry) => entry.configName === "log.dirs")?.configValue ??
    entries.find((entry) => entry.configName === "log.dir")?.configValue;
  return dirs?.split(",")[0] ?? null;
}

async function bytesOnBroker(directory: string | null, topic: string): Promise<number | null> {
  if (directory === null) return null;
  try {
    const partition = join(directory, `${topic}-0`);
    let total = 0;
    for (const file of await readdir(partition)) {
      if (file.endsWith(".log")) total += (await stat(join(partition, file))).size;
    }
    return total;
  } catch {
    return null;
  }
}

async function run(compression: Compression, records: CatalogRecord[], directory: string | null) {
  const topic = `bench-compression-${compression}-${randomUUID().slice(0, 8)}`;
  await admin.createTopics({
    topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  const producer = createIdempotentProducer(kafka, compression);
  await producer.connect();
  try {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    for (let from = 0; from < records.length; from += PER_REQUEST) {
      await producer.sendBatch({
        acks: -1,
        topicMessages: [{ topic, messages: records.slice(from, from + PER_REQUEST) }],
      });
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const bytes = await bytesOnBroker(directory, topic);
    return { compression, seconds, cpuMicros: cpu.user + cpu.system, bytes };
  } finally {
    await producer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  }
}

const records = catalogRecords(EVENTS);
const valueBytes = records.reduce((sum, record) => sum + Buffer.byteLength(record.value as string), 0);
const directory = await logDirectory();
// One unmeasured round first, so that connections and code are warm for every codec alike.
await run("none", records.slice(0, PER_REQUEST), directory);
const results = [];
for (const compression of COMPRESSIONS) results.push(await run(compression, records, directory));
await admin.disconnect();

const none = results[0]?.bytes ?? null;
printTable(
  `record compression, ${EVENTS.toLocaleString("en")} catalog events (${Math.round(valueBytes / EVENTS)} B average value, sealed), ${PER_REQUEST} per request, 1 partition; load average ${loadavg()
    .map((load) => load.toFixed(1))
    .join(" ")}`,
  results.map(({ compression, seconds, cpuMicros, bytes }) => [
    compression,
    bytes === null ? "n/a" : `${(bytes / 1024 / 1024).toFixed(2)} MiB`,
    bytes === null || none === null ? "n/a" : `${((bytes / none) * 100).toFixed(0)}%`,
    `${Math.round(EVENTS / seconds).toLocaleString("en")} events/s`,
    `${(cpuMicros / EVENTS).toFixed(1)} µs`,
  ]),
  ["KAFKA_COMPRESSION", "bytes on the broker", "of none", "producer throughput", "producer CPU per event"],
);

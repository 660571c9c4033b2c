// `npm run bench:relay`: the polling relay's catch-up rate from a backlog of committed outbox rows, and its
// commit-to-ack latency under a steady write rate, against the real Postgres and Kafka. Prints a table.
//
//   BENCH_BACKLOG (default 100000)   rows committed before the relay starts
//   BENCH_RATE (default 1000)        events/s written during the latency run, one event per transaction
//   BENCH_SECONDS (default 20)       length of the latency run
import { randomUUID } from "node:crypto";
import pg from "pg";
import { Registry } from "prom-client";
import { loadEnv } from "../config/env.ts";
import { createDatabase, writeTransaction } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { appendEvents, type EventContext } from "../db/outbox/appendEvents.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { exampleEvent } from "../events/examples.ts";
import { createKafka } from "../kafka/client.ts";
import { createLogger } from "../observability/logger.ts";
import { OutboxRelay } from "../relay/relay.ts";
import { ensureStack } from "../stack/index.ts";
import { printTable } from "./table.ts";

const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 100_000);
const RATE = Number(process.env.BENCH_RATE ?? 1_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const BENCH_DATABASE = "healthcare_bench";

const env = loadEnv();
const stack = await ensureStack(env, (line) => console.error(`[stack] ${line}`));
const databaseUrl = await freshDatabase(stack.databaseUrl);
await migrateDatabase(databaseUrl);
const admin = createKafka({ brokers: stack.kafkaBrokers, clientId: "bench" }).admin();
await admin.connect();
await applyTopics(admin, { log: { info: () => {}, warn: (message) => console.error(message) } });
await admin.disconnect();

const db = createDatabase(databaseUrl, { max: 20, applicationName: "bench" });
const context: EventContext = {
  source: "bench",
  metadata: {
    correlationId: randomUUID(),
    userId: null,
    ipAddress: "127.0.0.1",
    userAgent: "bench",
    sessionId: null,
  },
  traceparent: null,
};
/** A patient.updated for one of 1,000 patients: a realistic envelope (~600 bytes) spread over partitions. */
const patientIds = Array.from({ length: 1_000 }, () => randomUUID());
const nextEvent = (i: number) => ({
  ...exampleEvent("patient.updated"),
  data: {
    patientId: patientIds[i % patientIds.length] as string,
    changedFields: ["phone" as const, "allergies" as const],
    changes: { phone: "+14155552671", allergies: ["penicillin", `batch-${i}`] },
  },
});

// 1. Catch-up: a committed backlog, then a relay started cold.
console.error(`writing a backlog of ${BACKLOG} events...`);
const PER_TRANSACTION = 500;
for (let written = 0; written < BACKLOG; written += PER_TRANSACTION) {
  const count = Math.min(PER_TRANSACTION, BACKLOG - written);
  await writeTransaction(db, (tx) =>
    appendEvents(
      tx,
      context,
      Array.from({ length: count }, (_, i) => nextEvent(written + i)),
    ),
  );
}
let published = 0;
let allPublished: () => void = () => {};
const backlogDone = new Promise<void>((resolve) => {
  allPublished = resolve;
});
const catchUpStarted = performance.now();
const catchUpRelay = new OutboxRelay({
  databaseUrl,
  kafkaBrokers: stack.kafkaBrokers,
  log: createLogger({ level: "warn" }),
  registry: new Registry(),
  onPublished: (rows) => {
    published += rows.length;
    if (published >= BACKLOG) allPublished();
  },
});
catchUpRelay.start();
await backlogDone;
const catchUpSeconds = (performance.now() - catchUpStarted) / 1000;
await catchUpRelay.stop();

// 2. Latency: a steady rate of one-event transactions; commit time is when COMMIT returned to the writer.
console.error(`writing ${RATE} events/s for ${SECONDS} s...`);
const committedAt = new Map<string, number>();
const latenciesMs: number[] = [];
const latencyRelay = new OutboxRelay({
  databaseUrl,
  kafkaBrokers: stack.kafkaBrokers,
  log: createLogger({ level: "warn" }),
  registry: new Registry(),
  onPublished: (rows) => {
    const now = performance.now();
    for (const row of rows) {
      const committed = committedAt.get(row.eventId);
      if (committed !== undefined) latenciesMs.push(now - committed);
    }
  },
});
latencyRelay.start();
await new Promise((resolve) => setTimeout(resolve, 1_000));
const total = RATE * SECONDS;
const started = performance.now();
const inFlight = new Set<Promise<void>>();
for (let i = 0; i < total; i++) {
  // Open-loop: each write starts on schedule, whether or not earlier ones have finished.
  const due = started + (i * 1000) / RATE;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
  const write = writeTransaction(db, (tx) => appendEvents(tx, context, [nextEvent(i)])).then(([event]) => {
    if (event) committedAt.set(event.eventId, performance.now());
  });
  inFlight.add(write);
  void write.finally(() => inFlight.delete(write));
}
await Promise.all(inFlight);
const achievedRate = total / ((performance.now() - started) / 1000);
const deadline = Date.now() + 30_000;
while (latenciesMs.length < total && Date.now() < deadline)
  await new Promise((resolve) => setTimeout(resolve, 100));
await latencyRelay.stop();
await db.$client.end();

latenciesMs.sort((a, b) => a - b);
const percentile = (p: number) =>
  latenciesMs[Math.min(latenciesMs.length - 1, Math.floor((p / 100) * latenciesMs.length))] ?? NaN;
const rows: Array<[string, string, string]> = [
  [
    "catch-up from a committed backlog",
    `${Math.round(BACKLOG / catchUpSeconds).toLocaleString("en")} events/s`,
    ">= 20,000 events/s",
  ],
  ["  backlog / time", `${BACKLOG.toLocaleString("en")} events / ${catchUpSeconds.toFixed(2)} s`, ""],
  [
    "steady write rate achieved",
    `${Math.round(achievedRate).toLocaleString("en")} events/s`,
    `${RATE.toLocaleString("en")} events/s`,
  ],
  ["commit-to-ack p50", `${percentile(50).toFixed(1)} ms`, ""],
  ["commit-to-ack p95", `${percentile(95).toFixed(1)} ms`, ""],
  ["commit-to-ack p99", `${percentile(99).toFixed(1)} ms`, "< 50 ms"],
  ["commit-to-ack max", `${(latenciesMs.at(-1) ?? NaN).toFixed(1)} ms`, ""],
  ["events measured", `${latenciesMs.length.toLocaleString("en")} of ${total.toLocaleString("en")}`, ""],
];
printTable(`polling relay, Kafka ${stack.kafkaBrokers.join(",")}`, rows, ["metric", "value", "target"]);
await stack.stopStarted();

async function freshDatabase(serverUrl: string): Promise<string> {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${BENCH_DATABASE} WITH (FORCE)`);
  await client.query(`CREATE DATABASE ${BENCH_DATABASE}`);
  await client.end();
  const url = new URL(serverUrl);
  url.pathname = `/${BENCH_DATABASE}`;
  return url.toString();
}

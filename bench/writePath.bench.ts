// `npm run bench:write-path`: what the write path costs by itself, without HTTP, relay or consumers: one-event
// transactions through `appendEvents` (validated, sealed, chained, versioned, inserted with the outbox's indexes)
// against a plain insert of the same envelope JSON into a table with a primary key only, each from a few
// connections kept busy. CPU per transaction is read for this process (process.cpuUsage) and for the Postgres
// server's processes (/proc). Runs in a fresh <DATABASE_URL's database>_write_bench database whose outbox first
// gets a history, analyzed: how Postgres plans the insert depends on what the outbox holds, and a live one holds
// much (on an empty outbox the insert kept its generic plan; on 100,000 events it was replanned every time).
//
//   BENCH_HISTORY (default 100000)    events written, 500 a transaction, before the measured writes
//   BENCH_WRITES (default 5000)       transactions per row, after 1,000 to warm up
//   BENCH_CONNECTIONS (default 4)     writers at once, each on a connection of its own
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { parseCommand } from "../cli/command.ts";
import { loadEnv } from "../config/env.ts";
import { createDatabase, writeTransaction } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { freshDatabase } from "./freshDatabase.ts";
import { postgresCpuSeconds, postgresCpuSince } from "./processCpu.ts";
import { benchEvent, benchEventContext, writeBenchEvents } from "./relayBenchEvents.ts";
import { printTable } from "./table.ts";

parseCommand({
  usage: `usage: npm run bench:write-path
  one-event write transactions through appendEvents against a plain insert of the same JSON: transactions a
  second, and CPU per transaction in this process and in Postgres. DATABASE_URL names a running server (a fresh
  <its database>_write_bench database is made on it, its outbox given a history first); BENCH_HISTORY (100000),
  BENCH_WRITES (5000), BENCH_CONNECTIONS (4)`,
});
const env = loadEnv();
if (!env.DATABASE_URL) throw new Error("bench:write-path needs DATABASE_URL: a running Postgres server");
const HISTORY = Number(process.env.BENCH_HISTORY ?? 100_000);
const WRITES = Number(process.env.BENCH_WRITES ?? 5_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4);
const WARM_UP = 1_000;

const databaseUrl = await freshDatabase(
  env.DATABASE_URL,
  `${new URL(env.DATABASE_URL).pathname.slice(1) || "healthcare"}_write_bench`,
);
await migrateDatabase(databaseUrl);
const db = createDatabase(databaseUrl, { max: CONNECTIONS, applicationName: "bench-write-path" });
await db.$client.query("CREATE TABLE bench_plain_events (id uuid PRIMARY KEY, payload json NOT NULL)");

const context = benchEventContext(randomUUID());
console.error(`a history of ${HISTORY} events...`);
await writeBenchEvents(db, context, HISTORY);
await db.$client.query("ANALYZE");
const appended = async (i: number) => {
  await writeTransaction(db, (tx) => appendEvents(tx, context, [benchEvent(i)]));
};
// The same envelope the write path would store, serialized, in one autocommitted statement.
const envelope = JSON.stringify({
  eventId: randomUUID(),
  eventType: "patient.updated",
  data: benchEvent(0).data,
});
const plain = async () => {
  await db.$client.query({
    name: "bench.plain-insert",
    text: "INSERT INTO bench_plain_events (id, payload) VALUES ($1, $2)",
    values: [randomUUID(), envelope],
  });
};

const rows = [
  await measure("plain insert of the event's JSON (one statement, primary key only)", plain),
  await measure("appendEvents, one patient.updated (sealed, chained, 11 indexes)", appended),
];
await db.$client.end();
const [baseline] = rows;
printTable(
  `the write path alone, ${WRITES.toLocaleString("en")} one-event transactions from ${CONNECTIONS} connections, on a ${HISTORY.toLocaleString("en")}-event history, load average ${loadAverage()}`,
  rows.map((row) => [
    row.name,
    Math.round(row.perSecond).toLocaleString("en"),
    `${((row.perSecond / (baseline?.perSecond ?? row.perSecond)) * 100).toFixed(0)}%`,
    `${row.nodeMs.toFixed(3)} ms`,
    `${row.postgresMs.toFixed(3)} ms`,
  ]),
  [
    "write",
    "transactions/s",
    "of plain",
    "this process's CPU per transaction",
    "Postgres CPU per transaction",
  ],
);

async function measure(name: string, write: (i: number) => Promise<void>) {
  console.error(`${name}: ${WRITES} writes...`);
  await run(WARM_UP, write);
  const postgresBefore = postgresCpuSeconds();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await run(WRITES, write);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    name,
    perSecond: WRITES / seconds,
    nodeMs: (cpu.user + cpu.system) / 1000 / WRITES,
    postgresMs: (postgresCpuSince(postgresBefore) * 1000) / WRITES,
  };
}

/** `count` writes, CONNECTIONS at a time, each writer taking the next number as it finishes one. */
async function run(count: number, write: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < count) await write(next++);
    }),
  );
}

function loadAverage(): string {
  return loadavg()
    .map((load) => load.toFixed(1))
    .join(" ");
}

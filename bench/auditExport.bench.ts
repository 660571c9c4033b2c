// `npm run bench:audit` (auditSuite.ts), third part: what an auditor's NDJSON export costs the server, over HTTP
// from outside. The platform's routes run alone in a child process (auditExportServer.ts), one per export, on
// the query benchmark's outbox (bench/largeHistory.ts, `healthcare_query_bench`, BENCH_QUERY_HISTORY events);
// each export is the history's first N events (a time range), read by a client as fast as it can, or paced as
// a slow one (a megabyte every 200 ms). The server's resident memory is read from /proc: when idle after a
// small export (modules loaded, code compiled), and its peak (VmHWM). An export streamed with backpressure
// holds a page of places and a chunk of envelopes whatever its size, so the peak stays flat as N grows tenfold
// and for a slow client; an export held whole would grow with it.
import { type ChildProcess, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { get } from "node:http";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { issueToken } from "../apps/http/issueToken.ts";
import { loadEnv } from "../config/env.ts";
import { startPostgres } from "../stack/postgres.ts";
import { largeHistoryDatabase } from "./largeHistory.ts";
import { printTable } from "./table.ts";

const HISTORY = Number(process.env.BENCH_QUERY_HISTORY ?? 10_000_000);
/** The exports' sizes (each capped at the history's): the history's first N events. */
const SIZES = [10_000, 100_000, 300_000];
const SLOW_SIZE = 100_000;
/** The slow client takes a megabyte, then waits this long: at most 5 MB/s. */
const SLOW_PAUSE_MS = 200;
const MB = 1024 * 1024;
/**
 * The largest export once more, in a server whose V8 heap may not grow past this (--max-old-space-size): it
 * completes only if the process never holds more than that, whatever the garbage collector leaves lying about
 * in a server that may grow.
 */
const HEAP_CAP_MB = 64;

const env = loadEnv();
const serverUrl = env.DATABASE_URL ?? (await startPostgres((line) => console.error(line))).databaseUrl;
console.error(`the export benchmark's outbox: ${HISTORY.toLocaleString("en")} events...`);
const history = await largeHistoryDatabase(serverUrl, "healthcare_query_bench", HISTORY, (line) =>
  console.error(line),
);
const secret = `bench-export-secret-${process.pid}-${Date.now()}`;
const token = await issueToken(new TextEncoder().encode(secret), { role: "auditor" });
const serverScript = fileURLToPath(new URL("./auditExportServer.ts", import.meta.url));

const rows: string[][] = [];
for (const size of SIZES) rows.push(await measuredExport(Math.min(size, HISTORY - 1), "as fast as it can"));
rows.push(await measuredExport(Math.min(SLOW_SIZE, HISTORY - 1), "slow: 5 MB/s"));
const largest = Math.min(SIZES.at(-1) as number, HISTORY - 1);
rows.push(await measuredExport(largest, "as fast as it can", HEAP_CAP_MB));

printTable(
  `auditor NDJSON export over HTTP, the history's first N events, server in a process of its own (${HISTORY.toLocaleString("en")}-event outbox)`,
  rows,
  [
    "N",
    "server's V8 heap",
    "client",
    "events",
    "MB",
    "s",
    "events/s",
    "RSS idle MB",
    "RSS peak MB",
    "peak - idle MB",
  ],
);

/** One export in a fresh server process: its figures, and the server's memory. */
async function measuredExport(size: number, client: string, heapCapMb?: number): Promise<string[]> {
  const to = await createdAtOf(size + 1);
  const port = await freePort();
  const server = await startServer(port, heapCapMb);
  try {
    // Modules loaded and the route's code compiled: what any export after the first starts from.
    await download(port, await createdAtOf(1001), false);
    const idle = memoryOf(server.pid as number).rss;
    const started = performance.now();
    const result = await download(port, to, client.startsWith("slow"));
    const seconds = (performance.now() - started) / 1000;
    const { peak } = memoryOf(server.pid as number);
    if (!result.complete) throw new Error(`the export of ${size} events was cut off: ${result.tail}`);
    const events = Number(/"events":(\d+)\}\n$/.exec(result.tail)?.[1]);
    return [
      size.toLocaleString("en"),
      heapCapMb === undefined ? "Node's default" : `${heapCapMb} MB`,
      client,
      events.toLocaleString("en"),
      (result.bytes / MB).toFixed(0),
      seconds.toFixed(1),
      Math.round(events / seconds).toLocaleString("en"),
      (idle / MB).toFixed(0),
      (peak / MB).toFixed(0),
      ((peak - idle) / MB).toFixed(0),
    ];
  } finally {
    server.kill("SIGTERM");
  }
}

/** The created_at of the event at this position, as the API reads an instant: the bound before it. */
async function createdAtOf(position: number): Promise<string> {
  const client = new pg.Client({ connectionString: history.databaseUrl });
  await client.connect();
  try {
    const result = await client.query<{ at: string }>(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
         FROM outbox WHERE position = $1`,
      [position],
    );
    const at = result.rows[0]?.at;
    if (at === undefined) throw new Error(`the outbox holds no event at position ${position}`);
    return at;
  } finally {
    await client.end();
  }
}

/** GET /audit/events/export?format=ndjson of the events before `to`, read fast or paced as a slow client. */
function download(
  port: number,
  to: string,
  slow: boolean,
): Promise<{ bytes: number; complete: boolean; tail: string }> {
  const query = new URLSearchParams({ format: "ndjson", to });
  return new Promise((resolve, reject) => {
    const request = get(
      {
        host: "127.0.0.1",
        port,
        path: `/audit/events/export?${query}`,
        headers: { Authorization: `Bearer ${token}` },
      },
      (response) => {
        if (response.statusCode !== 200) reject(new Error(`the export answered ${response.statusCode}`));
        let bytes = 0;
        let sinceLastPause = 0;
        let tail = "";
        response.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
          tail = (tail + chunk.toString("latin1")).slice(-200);
          sinceLastPause += chunk.length;
          if (slow && sinceLastPause >= MB) {
            sinceLastPause = 0;
            response.pause();
            setTimeout(() => response.resume(), SLOW_PAUSE_MS);
          }
        });
        response.on("error", () => {});
        response.on("close", () => resolve({ bytes, complete: response.complete, tail }));
      },
    );
    request.on("error", reject);
  });
}

/** The server process's resident memory now, and the most it has held since it started (VmHWM), in bytes. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kilobytes = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]) * 1024;
  return { rss: kilobytes("VmRSS"), peak: kilobytes("VmHWM") };
}

async function startServer(port: number, heapCapMb?: number): Promise<ChildProcess> {
  const child = fork(serverScript, [], {
    execArgv: ["--import", "tsx", ...(heapCapMb === undefined ? [] : [`--max-old-space-size=${heapCapMb}`])],
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: history.databaseUrl,
      PORT: String(port),
      JWT_SECRET: secret,
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("message", () => resolve());
    child.once("exit", (code) => reject(new Error(`the export server exited (${code}) before it listened`)));
  });
  return child;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on("error", reject);
  });
}

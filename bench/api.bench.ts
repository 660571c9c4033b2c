// `npm run bench:api`: the HTTP front door under load, side by side in one run. A bare Hono + pg insert of the
// same patient JSON (bench/bareServer.ts) is the baseline; then the platform as `npm start` runs it (compiled
// into dist/, on plain Node; API, polling relay, consumers in one process) on a fresh database, each route's figures as a ratio to it.
// autocannon drives 10 connections per route, on loopback. A route's CPU and its figures run from the load's
// start until the relay and the consumers have caught up with it (every event it caused published and
// consumed): what a request costs includes the work it causes downstream. Before each platform run the
// platform's consumer groups are moved to the ends of their topics, so that records from earlier runs (of
// other databases) are not consumed again.
//
//   BENCH_SECONDS (default 15)      per route
//   BENCH_CONNECTIONS (default 10)
//   BENCH_API_PROCESSES (default 1,2) npm start's API_PROCESSES, one platform run each, side by side
//   BENCH_ROUTES=<words>,...        only the routes whose label contains one of them ("hot", "GET"), in
//                                   the platform runs; the bare insert always runs
//   BENCH_PROFILE=<dir>             also writes the platform's CPU profiles (node --cpu-prof, one file per
//                                   process) there, for bench/profileSummary.ts; with the first of
//                                   BENCH_API_PROCESSES only, and the routes of BENCH_ROUTES (POST /patients
//                                   unless it is set)
//   DATABASE_URL, KAFKA_BROKERS     the Postgres server (a fresh <its database>_api_bench database is made on it)
//                                   and the broker; both must be running (the shared ones, say)
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { issueToken } from "../apps/http/issueToken.ts";
import { parseCommand } from "../cli/command.ts";
import { loadEnv } from "../config/env.ts";
import { consumerNames } from "../consumers/config.ts";
import { isTopicName, topics } from "../events/catalog.ts";
import { createKafka } from "../kafka/client.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { freshDatabase } from "./freshDatabase.ts";
import { childrenOf, postgresCpuSeconds, postgresCpuSince, processCpuSeconds } from "./processCpu.ts";
import { printTable } from "./table.ts";

parseCommand({
  usage: `usage: npm run bench:api
  the HTTP front door under load: a bare Hono + pg insert as the baseline, then npm start's routes, one table
  BENCH_SECONDS (15) per route, BENCH_CONNECTIONS (10), BENCH_API_PROCESSES (1,2), BENCH_ROUTES=<words>,... for some routes only,
  BENCH_PROFILE=<dir> for a CPU profile (of POST /patients unless BENCH_ROUTES says);
  DATABASE_URL and KAFKA_BROKERS name running services`,
});
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const API_PROCESSES = (process.env.BENCH_API_PROCESSES ?? "1,2").split(",").map(Number);
const profileDirectory = process.env.BENCH_PROFILE;
const ROUTES = (process.env.BENCH_ROUTES ?? (profileDirectory ? "POST /patients" : ""))
  .split(",")
  .filter((word) => word !== "");
// A new hour for each booking, across both platform runs: no overlapping slot is refused.
let slot = 0;
const env = loadEnv();
if (!env.DATABASE_URL || !env.KAFKA_BROKERS) {
  throw new Error("bench:api needs DATABASE_URL and KAFKA_BROKERS: a running Postgres server and broker");
}
const projectRoot = fileURLToPath(new URL("..", import.meta.url));
const secret = `bench-api-secret-${randomUUID()}`;
// Named after DATABASE_URL's own database, so that benchmarks of two checkouts on one server never collide.
const databaseUrl = await freshDatabase(
  env.DATABASE_URL,
  `${new URL(env.DATABASE_URL).pathname.slice(1) || "healthcare"}_api_bench`,
);
const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const child of children) child.kill("SIGTERM");
});

interface Figures {
  label: string;
  /** From the load's end until the relay had published, and the consumers consumed, what it caused; in s. */
  drainedAfterSeconds: number | null;
  /** The server's CPU time per request served, in ms: the server's, then each of its child processes'. */
  cpuMsPerRequest: number[];
  /** The CPU time of the machine's Postgres server processes per request served, in ms. */
  postgresCpuMsPerRequest: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  /** The server's, then each of its child processes'. */
  rssMb: number[] | null;
}

// Before anything is measured: the platform runs below join the platform's consumer groups.
await refuseRunningGroups(createKafka({ brokers: env.KAFKA_BROKERS, clientId: "bench-api" }));

const baselinePort = await freePort();
const baseline = start("bench/bareServer.ts", { DATABASE_URL: databaseUrl, PORT: String(baselinePort) });
await live(baselinePort);
const patientBody = requestBodies.patient();
const rows: Figures[] = [];
rows.push(
  await load(
    "bare insert (Hono + pg), POST /patients",
    baseline,
    baselinePort,
    [jsonRequest("POST", "/patients", patientBody)],
    { pipeline: false },
  ),
);
baseline.kill("SIGTERM");

for (const apiProcesses of profileDirectory ? API_PROCESSES.slice(0, 1) : API_PROCESSES) {
  rows.push(...(await platformRoutes(apiProcesses)));
}

const [bare] = rows as [Figures];
printTable(
  `bench:api, ${CONNECTIONS} connections, ${SECONDS} s per route; the platform as npm start runs it (API, relay, consumers); load average ${loadavg()
    .map((load) => load.toFixed(1))
    .join(" ")}`,
  rows.map((row) => [
    row.label,
    Math.round(row.requestsPerSecond).toLocaleString("en"),
    `${((row.requestsPerSecond / bare.requestsPerSecond) * 100).toFixed(0)}%`,
    `${row.p50} ms`,
    `${row.p99} ms`,
    perProcess(
      row.cpuMsPerRequest.map((ms) => ms.toFixed(1)),
      "ms",
    ),
    `${row.postgresCpuMsPerRequest.toFixed(1)} ms`,
    row.drainedAfterSeconds === null ? "–" : `${row.drainedAfterSeconds.toFixed(1)} s`,
    String(row.errors),
    row.rssMb === null ? "n/a" : perProcess(row.rssMb.map(String), "MB"),
  ]),
  [
    "route",
    "req/s",
    "of bare",
    "p50",
    "p99",
    "server CPU per request (primary + API processes)",
    "Postgres CPU per request (at least)",
    "relay and consumers caught up after",
    "non-2xx/errors",
    "server RSS after (primary + API processes)",
  ],
);
process.exit(0);

/** A total and, when there is more than one process, each process's share: "9.1 ms (3.0 + 6.1)". */
function perProcess(figures: string[], unit: string): string {
  const total = figures.reduce((sum, figure) => sum + Number(figure), 0);
  const shown = `${Number.isInteger(total) ? total : total.toFixed(1)} ${unit}`;
  return figures.length === 1 ? shown : `${shown} (${figures.join(" + ")})`;
}

type Request = autocannon.Request;

/** npm start with `apiProcesses` API processes: every route, or only POST /patients under BENCH_PROFILE. */
async function platformRoutes(apiProcesses: number): Promise<Figures[]> {
  const tag = apiProcesses === 1 ? "[1 API process]" : `[${apiProcesses} API processes]`;
  await consumeFromTheEnds();
  const platformPort = await freePort();
  const platform = start(
    "dist/scripts/start.js",
    {
      DATABASE_URL: databaseUrl,
      KAFKA_BROKERS: env.KAFKA_BROKERS?.join(",") ?? "",
      PORT: String(platformPort),
      JWT_SECRET: secret,
      RELAY_MODE: "polling",
      API_PROCESSES: String(apiProcesses),
    },
    profileDirectory ? ["--cpu-prof", "--cpu-prof-dir", profileDirectory] : [],
  );
  await live(platformPort, 180_000);
  const admin = `Bearer ${await issueToken(new TextEncoder().encode(secret), { role: "admin", sub: randomUUID(), sessionId: randomUUID() })}`;
  const patients = await Promise.all(
    Array.from({ length: 200 }, () => create(platformPort, admin, "/patients", patientBody)),
  );
  const provider = await create(platformPort, admin, "/providers", requestBodies.provider());
  // What the setup caused is not the first route's to pay.
  await drained(platformPort);
  const hot = patients[0] as string;
  const pick = () => patients[Math.floor(Math.random() * patients.length)] as string;
  const figures: Figures[] = [];
  const route = async (label: string, requests: Request[]) => {
    if (ROUTES.length > 0 && !ROUTES.some((word) => label.includes(word))) return;
    figures.push(await load(`${label} ${tag}`, platform, platformPort, requests));
  };

  await route("POST /patients", [jsonRequest("POST", "/patients", patientBody, admin)]);
  await route("PATCH /patients/:id, 200 patients", [
    dynamicRequest(admin, () => ({
      method: "PATCH",
      path: `/patients/${pick()}`,
      body: { allergies: [randomUUID()] },
    })),
  ]);
  await route("PATCH /patients/:id, one hot patient", [
    dynamicRequest(admin, () => ({
      method: "PATCH",
      path: `/patients/${hot}`,
      body: { allergies: [randomUUID()] },
    })),
  ]);
  await route("GET /patients/:id", [
    dynamicRequest(admin, () => ({ method: "GET", path: `/patients/${pick()}` })),
  ]);
  await route("POST /appointments", [
    dynamicRequest(admin, () => ({
      method: "POST",
      path: "/appointments",
      // One provider, a new hour for each booking: no overlapping slot is refused.
      body: requestBodies.booking(pick(), provider, (10 * 24 + slot++) * 3_600_000),
    })),
  ]);
  platform.kill("SIGTERM");
  await new Promise((resolve) => platform.once("exit", resolve));
  if (profileDirectory) console.error(`the platform's CPU profile is in ${profileDirectory}`);
  return figures;
}

function jsonRequest(method: string, path: string, body: unknown, authorization?: string): Request {
  return {
    method: method as Request["method"],
    path,
    headers: { "content-type": "application/json", ...(authorization ? { authorization } : {}) },
    body: JSON.stringify(body),
  };
}

function dynamicRequest(
  authorization: string,
  next: () => { method: string; path: string; body?: unknown },
): Request {
  return {
    setupRequest: (request: Request) => {
      const { method, path, body } = next();
      return {
        ...request,
        method: method as Request["method"],
        path,
        headers: { "content-type": "application/json", authorization },
        body: body === undefined ? undefined : JSON.stringify(body),
      };
    },
  };
}

async function load(
  label: string,
  server: ChildProcess,
  port: number,
  requests: Request[],
  { pipeline = true }: { pipeline?: boolean } = {},
): Promise<Figures> {
  console.error(`${label}: ${SECONDS} s...`);
  const cpuBefore = cpuSeconds(server);
  const postgresBefore = postgresCpuSeconds();
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests,
  });
  const drainedAfterSeconds = pipeline ? await drained(port) : null;
  const cpu = cpuSeconds(server);
  const postgres = postgresCpuSince(postgresBefore);
  const perRequest = (seconds: number) =>
    result.requests.total > 0 ? (seconds * 1000) / result.requests.total : Number.NaN;
  return {
    label,
    drainedAfterSeconds,
    cpuMsPerRequest: [...cpu].map(([pid, seconds]) => perRequest(seconds - (cpuBefore.get(pid) ?? 0))),
    postgresCpuMsPerRequest: perRequest(postgres),
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
    rssMb: residentMegabytes(server),
  };
}

/**
 * Waits until the pipeline is still: nothing pending in the outbox, and neither the relay nor any consumer
 * moved on for three seconds (the platform's /metrics, which counts for every process). Returns how long
 * that took, in seconds, the three quiet seconds not counted.
 */
async function drained(port: number): Promise<number> {
  const started = Date.now();
  const deadline = started + 300_000;
  let last = "";
  let quietSince = Date.now();
  for (;;) {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((response) => response.text());
    const sum = (metric: string) =>
      text
        .split("\n")
        .filter((line) => line.startsWith(metric))
        .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
    const pending = sum("outbox_relay_pending_events");
    const progress = `${sum("outbox_relay_events_published_total")}/${sum("consumer_records_processed_total")}`;
    if (progress !== last || pending > 0) {
      last = progress;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= 3_000) {
      return (quietSince - started) / 1000;
    }
    if (Date.now() > deadline) throw new Error("the relay and the consumers did not catch up within 300 s");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Commits the platform's consumer groups at the ends of the event topics that exist: the run's database is
 * new, and the records that earlier runs left on a shared broker are not its history. The groups must have
 * no running member (refuseRunningGroups).
 */
async function consumeFromTheEnds(): Promise<void> {
  const kafka = createKafka({ brokers: env.KAFKA_BROKERS ?? [], clientId: "bench-api" });
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, Array<{ partition: number; offset: string }>>();
  try {
    const existing = new Set(await admin.listTopics());
    for (const { name } of topics) {
      if (!isTopicName(name) || !existing.has(name)) continue;
      ends.set(
        name,
        (await admin.fetchTopicOffsets(name)).map(({ partition, high }) => ({ partition, offset: high })),
      );
    }
  } finally {
    await admin.disconnect();
  }
  await refuseRunningGroups(kafka);
  if (ends.size > 0) await Promise.all(consumerNames.map((groupId) => commitOffsets(kafka, groupId, ends)));
}

/**
 * Throws when a platform consumer group still has members after the time a killed member takes to be
 * dropped: another npm start on the same broker. Joining its groups would take partitions from it, and hand
 * its records to the bench's database (and the bench's to it).
 */
async function refuseRunningGroups(kafka: ReturnType<typeof createKafka>): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + 40_000; // the consumers' 30 s session timeout, and some
    for (;;) {
      const { groups } = await admin.describeGroups([...consumerNames]);
      const running = groups.filter((group) => group.members.length > 0);
      if (running.length === 0) return;
      if (Date.now() > deadline) {
        const named = running.map(
          (group) =>
            `${group.groupId} (${group.members.map((member) => `${member.clientId} on ${member.clientHost}`).join(", ")})`,
        );
        throw new Error(
          `the platform's consumer groups have running members on ${env.KAFKA_BROKERS?.join(",")}: ${named.join("; ")}. ` +
            "Stop the npm start (or consumers) using this broker, or give the bench a broker of its own.",
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * What kafkajs's admin.setOffsets does, for every topic at once (one group join, not one per topic): a
 * member joins, seeks each partition, and its first fetch commits the positions. (Its resetOffsets to the
 * latest would commit -1, which a group reads as no offset at all: it would start from the beginning.)
 */
async function commitOffsets(
  kafka: ReturnType<typeof createKafka>,
  groupId: string,
  offsets: Map<string, Array<{ partition: number; offset: string }>>,
): Promise<void> {
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...offsets.keys()] });
    await new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.FETCH, () => {
        consumer.stop().then(resolve, reject);
      });
      consumer.run({ eachBatchAutoResolve: false, eachBatch: async () => {} }).catch(reject);
      consumer.pause([...offsets.keys()].map((topic) => ({ topic })));
      for (const [topic, partitions] of offsets) {
        for (const { partition, offset } of partitions) consumer.seek({ topic, partition, offset });
      }
    });
  } finally {
    await consumer.disconnect();
  }
}

async function create(port: number, authorization: string, path: string, body: unknown): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization },
    body: JSON.stringify(body),
  });
  if (response.status !== 201) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

/** Runs `script`: a compiled one (dist/…js, built first, as `npm start` does) on plain Node, a source under tsx. */
function start(script: string, extra: Record<string, string>, nodeOptions: string[] = []): ChildProcess {
  const log = join(tmpdir(), `bench-api-${script.replaceAll("/", "-")}.log`);
  const output = openSync(log, "w");
  if (script.endsWith(".js"))
    execFileSync("npm", ["run", "--silent", "build"], { cwd: projectRoot, stdio: "inherit" });
  const loader = script.endsWith(".ts") ? ["--import", "tsx"] : [];
  const child = spawn(process.execPath, [...nodeOptions, ...loader, script], {
    cwd: projectRoot,
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "info", ...extra },
    stdio: ["ignore", output, output],
  });
  child.once("exit", (code) => {
    if (code !== null && code !== 0) console.error(`${script} exited with ${code}; its output is in ${log}`);
  });
  children.push(child);
  return child;
}

async function live(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/health/live`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing answered on port ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * The CPU time (user + system) the server and each of its child processes have used so far, in seconds, by
 * pid: per request, the one figure a shared, loaded machine barely moves (throughput and latency follow
 * whatever else runs).
 */
function cpuSeconds(child: ChildProcess): Map<number, number> {
  const pid = child.pid as number;
  return new Map([pid, ...childrenOf(pid)].map((each) => [each, processCpuSeconds(each)]));
}

/** The resident memory of the server and of its child processes (the API processes), each in MB. */
function residentMegabytes(child: ChildProcess): number[] | null {
  const ofPid = (pid: number) => {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024);
  };
  try {
    const pid = child.pid as number;
    return [ofPid(pid), ...childrenOf(pid).map(ofPid)];
  } catch {
    return null;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

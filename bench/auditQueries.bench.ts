// `npm run bench:audit` (auditSuite.ts), second part: how fast the auditor API's history query answers over a
// large outbox, measured with the query function the API calls (apps/audit/sql/historyPage.ts), a page of the
// API's default size at a time, one query at a time. The outbox is built by bench/largeHistory.ts in the
// `healthcare_query_bench` database and reused by later runs of the same size.
//
//   BENCH_QUERY_HISTORY (default 10000000)   events in the outbox
//   BENCH_QUERY_SAMPLES (default 200)        queries per filter and page
//   BENCH_QUERY_SECONDS (default 60)         at most this long per filter and page (fewer samples then)
import pg from "pg";
import { exportFormats } from "../apps/audit/exportFormats.ts";
import { historyQuery } from "../apps/audit/schemas.ts";
import {
  type HistoryFilter,
  type HistoryKey,
  historyEventsAt,
  historyHorizon,
  historyPageQuery,
  historyPlaces,
  START_OF_HISTORY,
} from "../apps/audit/sql/historyPage.ts";
import { loadEnv } from "../config/env.ts";
import { instantOf } from "../events/instant.ts";
import { startPostgres } from "../stack/postgres.ts";
import { explainPlan } from "../test/queryPlan.ts";
import { largeHistoryDatabase, PATIENTS, patientId } from "./largeHistory.ts";
import { printTable } from "./table.ts";

const HISTORY = Number(process.env.BENCH_QUERY_HISTORY ?? 10_000_000);
const SAMPLES = Number(process.env.BENCH_QUERY_SAMPLES ?? 200);
const SECONDS_PER_CASE = Number(process.env.BENCH_QUERY_SECONDS ?? 60);
/** The page size the API serves when the auditor names none. */
const PAGE = historyQuery.parse({}).limit;
/** Rows per page while exporting, as apps/audit/routes.ts reads them. */
const EXPORT_PAGE = 1000;
const DAY_MS = 86_400_000;

const env = loadEnv();
const serverUrl = env.DATABASE_URL ?? (await startPostgres((line) => console.error(line))).databaseUrl;
console.error(`the query benchmark's outbox: ${HISTORY.toLocaleString("en")} events...`);
const history = await largeHistoryDatabase(serverUrl, "healthcare_query_bench", HISTORY, (line) =>
  console.error(line),
);
console.error(
  history.reused
    ? `reusing it (built earlier in ${history.buildSeconds.toFixed(0)} s)`
    : `built in ${history.buildSeconds.toFixed(0)} s`,
);

const pool = new pg.Pool({
  connectionString: history.databaseUrl,
  max: 1,
  application_name: "bench-audit-queries",
});
const random = seededRandom(20240101);

/** One event of the outbox, drawn at random: its values make the filters, its key a cursor mid-history. */
interface SampledEvent extends HistoryKey {
  patientId: string | null;
  userId: string | null;
  correlationId: string;
  eventType: string;
  aggregateType: string;
  aggregateId: string;
  createdAt: Date;
}

interface QueryCase {
  name: string;
  /** The filter, or undefined when this event cannot make one (no patient, no user). */
  filter: (event: SampledEvent) => HistoryFilter | undefined;
}

const around = (event: SampledEvent, days: number) => ({
  from: instantOf(new Date(event.createdAt.getTime() - (days / 2) * DAY_MS)),
  to: instantOf(new Date(event.createdAt.getTime() + (days / 2) * DAY_MS)),
});

const cases: QueryCase[] = [
  { name: "patient", filter: (e) => (e.patientId ? { patientId: e.patientId } : undefined) },
  {
    name: "patient + 90 days",
    filter: (e) => (e.patientId ? { patientId: e.patientId, ...around(e, 90) } : undefined),
  },
  { name: "acting user", filter: (e) => (e.userId ? { userId: e.userId } : undefined) },
  { name: "correlation id", filter: (e) => ({ correlationId: e.correlationId }) },
  {
    name: "event type + 1 day",
    filter: (e) => {
      const from = new Date(Math.floor(e.createdAt.getTime() / DAY_MS) * DAY_MS);
      return {
        eventType: e.eventType,
        from: instantOf(from),
        to: instantOf(new Date(from.getTime() + DAY_MS)),
      };
    },
  },
  { name: "aggregate", filter: (e) => ({ aggregateType: e.aggregateType, aggregateId: e.aggregateId }) },
  {
    name: "patient + event type + 1 year",
    filter: (e) =>
      e.patientId ? { patientId: e.patientId, eventType: e.eventType, ...around(e, 365) } : undefined,
  },
];

const summary = await outboxSummary();
type Query = [HistoryFilter, HistoryKey];

// The headline: any patient, as likely a quiet one as a busy one.
const anyPatient = Array.from({ length: SAMPLES }, () => ({
  patientId: patientId(Math.floor(random() * PATIENTS)),
}));
const rows = [
  await measuredRow(
    `patient (any of ${PATIENTS.toLocaleString("en")})`,
    "first",
    anyPatient.map((filter): Query => [filter, START_OF_HISTORY]),
  ),
];
// Every other filter is made from a random event, so busy patients, users and types come up as often as
// they appear in the history; its later page starts right after that event, somewhere mid-history.
for (const queryCase of cases) {
  const samples = await sampledFilters(queryCase);
  rows.push(
    await measuredRow(
      queryCase.name,
      "first",
      samples.map(([filter]): Query => [filter, START_OF_HISTORY]),
    ),
    await measuredRow(
      queryCase.name,
      "later",
      samples.map(([filter, event]): Query => [filter, event]),
    ),
  );
}

const exportRate = await exportPatient(patientId(0));
await pool.end();

printTable(
  `auditor history queries, ${summary.rows.toLocaleString("en")} events, page of ${PAGE}, one query at a time (ms)`,
  rows,
  ["filter", "page", "n", "p50", "p95", "p99", "max", "plan (indexes read)"],
);
printTable(`the outbox queried`, [
  ["events", summary.rows.toLocaleString("en"), `~${PATIENTS.toLocaleString("en")} patients, 2 years`],
  [
    "build",
    `${history.buildSeconds.toFixed(0)} s`,
    history.reused ? "reused: built by an earlier run" : "this run: set-based INSERT, then the indexes",
  ],
  [
    "database size",
    summary.databaseSize,
    `outbox heap ${summary.heapSize}, its indexes ${summary.indexSize}`,
  ],
  ["shared_buffers", summary.sharedBuffers, "the server's own setting"],
  [
    "NDJSON export, busiest patient",
    `${Math.round(exportRate.events / exportRate.seconds).toLocaleString("en")} events/s`,
    `${exportRate.events.toLocaleString("en")} events, ${(exportRate.bytes / 1e6).toFixed(1)} MB in ${exportRate.seconds.toFixed(2)} s`,
  ],
]);

async function outboxSummary() {
  const result = await pool.query<{
    rows: string;
    databaseSize: string;
    heapSize: string;
    indexSize: string;
    sharedBuffers: string;
  }>(
    `SELECT (SELECT count(*) FROM outbox)::text AS rows,
            pg_size_pretty(pg_database_size(current_database())) AS "databaseSize",
            pg_size_pretty(pg_table_size('outbox')) AS "heapSize",
            pg_size_pretty(pg_indexes_size('outbox')) AS "indexSize",
            current_setting('shared_buffers') AS "sharedBuffers"`,
  );
  const found = result.rows[0] as (typeof result.rows)[number];
  return { ...found, rows: Number(found.rows) };
}

/** SAMPLES filters of one case, each with the random event it was made from. */
async function sampledFilters(queryCase: QueryCase): Promise<Array<[HistoryFilter, SampledEvent]>> {
  const bounds = await pool.query<{ low: string; high: string }>(
    `SELECT min(position)::text AS low, max(position)::text AS high FROM outbox`,
  );
  const low = Number(bounds.rows[0]?.low);
  const high = Number(bounds.rows[0]?.high);
  const pairs: Array<[HistoryFilter, SampledEvent]> = [];
  while (pairs.length < SAMPLES) {
    const positions = Array.from({ length: SAMPLES }, () =>
      String(low + Math.floor(random() * (high - low + 1))),
    );
    const events = await pool.query<SampledEvent>(
      `SELECT tx_id::text AS "txId", position::text AS position, patient_id::text AS "patientId",
              (payload::jsonb -> 'metadata' ->> 'userId') AS "userId", correlation_id::text AS "correlationId",
              event_type AS "eventType", aggregate_type AS "aggregateType", aggregate_id AS "aggregateId",
              created_at AS "createdAt"
         FROM outbox WHERE position = ANY($1::bigint[])`,
      [positions],
    );
    for (const event of events.rows) {
      const filter = queryCase.filter(event);
      if (filter && pairs.length < SAMPLES) pairs.push([filter, event]);
    }
  }
  return pairs;
}

/**
 * Runs each query once, in order (until SECONDS_PER_CASE have passed), timing it as the API's handler would
 * see it; and names the indexes that the first one's plan reads.
 */
async function measuredRow(name: string, page: "first" | "later", queries: Query[]): Promise<string[]> {
  const millis: number[] = [];
  const deadline = performance.now() + SECONDS_PER_CASE * 1000;
  for (const [filter, after] of queries) {
    const started = performance.now();
    const places = await historyPlaces(pool, filter, after, PAGE);
    for await (const _ of historyEventsAt(pool, filter, after, places));
    millis.push(performance.now() - started);
    if (performance.now() > deadline) break;
  }
  millis.sort((a, b) => a - b);
  const at = (q: number) => (millis[Math.max(0, Math.ceil(q * millis.length) - 1)] as number).toFixed(1);
  const [filter, after] = queries[0] as Query;
  return [name, page, String(millis.length), at(0.5), at(0.95), at(0.99), at(1), await planOf(filter, after)];
}

async function planOf(filter: HistoryFilter, after: HistoryKey): Promise<string> {
  const { text, values } = historyPageQuery(filter, after, PAGE);
  const client = await pool.connect();
  try {
    const plan = await explainPlan(client, text, values);
    const notes = [
      ...new Set(plan.indexes),
      ...(plan.nodeTypes.includes("Sort") ? ["+ sort"] : []),
      ...(plan.nodeTypes.includes("Seq Scan") ? ["seq scan"] : []),
    ];
    return notes.join(" ");
  } finally {
    client.release();
  }
}

/** A patient's whole history as the export route streams it: fixed horizon, pages of EXPORT_PAGE, NDJSON. */
async function exportPatient(patient: string) {
  const started = performance.now();
  const below = await historyHorizon(pool);
  let after = START_OF_HISTORY;
  let events = 0;
  let bytes = 0;
  for (;;) {
    const places = await historyPlaces(pool, { patientId: patient }, after, EXPORT_PAGE, { below });
    for await (const chunk of historyEventsAt(pool, { patientId: patient }, after, places)) {
      for (const event of chunk) bytes += Buffer.byteLength(exportFormats.ndjson.line(event));
    }
    events += places.length;
    if (places.length < EXPORT_PAGE) break;
    after = places.at(-1) as HistoryKey;
  }
  return { events, bytes, seconds: (performance.now() - started) / 1000 };
}

/** mulberry32: the same samples on every run, so that two runs measure the same queries. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

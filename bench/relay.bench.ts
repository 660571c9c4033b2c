// `npm run bench:relay`: the two relays side by side, against the real Postgres, Kafka and Kafka Connect —
// catch-up from a backlog of committed outbox rows, and commit-to-ack latency under a steady write rate.
// Prints a table. Each mode runs in a fresh `healthcare_bench` database.
//
//   BENCH_BACKLOG (default 100000)   rows committed before the relay starts
//   BENCH_RATE (default 1000)        events/s written during the latency run, one event per transaction
//   BENCH_SECONDS (default 20)       length of the latency run
//   BENCH_MODES (default polling,debezium)
//
// The steady writes come from a process of their own (bench/steadyWriter.ts), as the API's do, and so does the
// measuring consumer (bench/recordWatcher.ts): in this one either would hold up the relay's event loop. The polling relay reports each acknowledged batch (commit-to-ack). Debezium's acknowledgements happen inside
// Connect, so both modes are also measured the same way from outside: commit to the record reaching a
// read-committed consumer, and the backlog fully readable by it.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { Registry } from "prom-client";
import { parseCommand } from "../cli/command.ts";
import { createDatabase } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { ensureConnectWorker, registerConnector } from "../debezium/connector.ts";
import { debeziumTarget } from "../debezium/connectorConfig.ts";
import { preparePostgres } from "../debezium/sql/preparePostgres.ts";
import { createSlotExportingSnapshot } from "../debezium/sql/replicationSlot.ts";
import { releaseDatabase } from "../debezium/teardown.ts";
import { createLogger } from "../observability/logger.ts";
import { OutboxRelay } from "../relay/relay.ts";
import { stopConnect } from "../stack/connect.ts";
import { benchStack } from "./benchStack.ts";
import { freshDatabase } from "./freshDatabase.ts";
import { watchRecords } from "./recordWatcher.ts";
import { benchEventContext, writeBenchEvents } from "./relayBenchEvents.ts";
import { steadyWrites } from "./steadyWriter.ts";
import { printTable } from "./table.ts";

parseCommand({
  usage: `usage: npm run bench:relay
  times both relays (catch-up from a backlog, commit-to-ack latency under a steady rate) against the real
  Postgres, Kafka and Kafka Connect, each in a fresh healthcare_bench database; prints a table. From the
  environment:
  BENCH_BACKLOG (default 100000)   rows committed before the relay starts
  BENCH_RATE (default 1000)        events/s written during the latency run
  BENCH_SECONDS (default 20)       length of the latency run
  BENCH_MODES (default polling,debezium)`,
});

type Mode = "polling" | "debezium";
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 100_000);
const RATE = Number(process.env.BENCH_RATE ?? 1_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const MODES = (process.env.BENCH_MODES ?? "polling,debezium").split(",") as Mode[];
const BENCH_DATABASE = "healthcare_bench";

// The poll saves the cursor the batch before it moved (relay/relay.ts): a cycle has no checkpoint step of its own.
const CYCLE_PHASES = ["poll", "publish"];
const { stack } = await benchStack();
const worker = MODES.includes("debezium")
  ? await ensureConnectWorker(stack.kafkaBrokers, (line) => console.error(line))
  : null;

/** Epoch milliseconds with a fraction: the one clock this process and the steady writer's both read. */
const now = () => performance.timeOrigin + performance.now();

interface ModeFigures {
  /** The polling relay's cycle during the steady writes, by phase (outbox_relay_cycle_phase_seconds). */
  phases: PhaseFigures[];
  catchUpAckSeconds: number | null;
  catchUpReadableSeconds: number;
  ackLatenciesMs: number[];
  readableLatenciesMs: number[];
  achievedRate: number;
}

const figures = new Map<Mode, ModeFigures>();
for (const mode of MODES) {
  console.error(`\n${mode}: backlog of ${BACKLOG} events, then ${RATE} events/s for ${SECONDS} s`);
  figures.set(mode, await benchmark(mode));
}
if (worker?.startedByUs) await stopConnect();
await stack.stopStarted();

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const rate = (seconds: number | null | undefined) =>
  seconds ? `${Math.round(BACKLOG / seconds).toLocaleString("en")} events/s` : "–";
const ms = (value: number) => (Number.isFinite(value) ? `${value.toFixed(1)} ms` : "–");
const ratio = (pick: (f: ModeFigures) => number | null, higherIsBetter: boolean) => {
  const [a, b] = [figures.get("polling"), figures.get("debezium")].map((f) => (f ? pick(f) : null));
  if (!a || !b) return "";
  return `${(higherIsBetter ? b / a : a / b).toFixed(2)}`;
};
const rows: string[][] = [
  [
    "catch-up, Kafka acks (relay's own count)",
    ...MODES.map((mode) => rate(figures.get(mode)?.catchUpAckSeconds)),
    "",
  ],
  [
    "catch-up, readable by a consumer",
    ...MODES.map((mode) => rate(figures.get(mode)?.catchUpReadableSeconds)),
    ratio((f) => f.catchUpReadableSeconds, true),
  ],
  [
    "steady write rate achieved",
    ...MODES.map((mode) => `${Math.round(figures.get(mode)?.achievedRate ?? 0)} events/s`),
    "",
  ],
];
for (const p of [50, 95, 99]) {
  rows.push([
    `commit-to-ack p${p}`,
    ...MODES.map((mode) => {
      const latencies = figures.get(mode)?.ackLatenciesMs ?? [];
      return latencies.length ? ms(percentile(latencies, p)) : "–";
    }),
    "",
  ]);
}
for (const phase of CYCLE_PHASES) {
  rows.push([
    `relay cycle: ${phase}, mean / p99 at most`,
    ...MODES.map((mode) => {
      const phaseFigures = figures.get(mode)?.phases.find((figure) => figure.phase === phase);
      return phaseFigures ? `${ms(phaseFigures.meanMs)} / ${ms(phaseFigures.p99AtMostMs)}` : "–";
    }),
    "",
  ]);
}
for (const p of [50, 95, 99]) {
  rows.push([
    `commit-to-consumer p${p}`,
    ...MODES.map((mode) => ms(percentile(figures.get(mode)?.readableLatenciesMs ?? [], p))),
    ratio((f) => percentile(f.readableLatenciesMs, p), false),
  ]);
}
printTable(
  `outbox relays, ${BACKLOG.toLocaleString("en")}-event backlog, ${RATE.toLocaleString("en")} events/s for ${SECONDS} s, Kafka ${stack.kafkaBrokers.join(",")}`,
  rows,
  ["metric", ...MODES, "polling/debezium"],
);

async function benchmark(mode: Mode): Promise<ModeFigures> {
  const databaseUrl = await freshBenchDatabase(stack.databaseUrl);
  await migrateDatabase(databaseUrl);
  const db = createDatabase(databaseUrl, { max: 20, applicationName: "bench" });
  const context = benchEventContext(randomUUID());
  const readable = await watchRecords({
    brokers: stack.kafkaBrokers,
    correlationId: context.metadata.correlationId,
  });

  // 1. Catch-up: a committed backlog, then the relay started cold.
  const target = debeziumTarget(databaseUrl);
  if (mode === "debezium") {
    // The slot, made before the backlog, holds its WAL until the connector is registered after it.
    const control = new pg.Client({ connectionString: databaseUrl });
    await control.connect();
    await preparePostgres(control, target).finally(() => control.end());
    await (await createSlotExportingSnapshot(databaseUrl, target.slotName)).release();
  }
  await writeBenchEvents(db, context, BACKLOG);
  let acknowledged = 0;
  let ackedAt = 0;
  const started = now();
  let relay: OutboxRelay | null = null;
  const onPublished = (rowsAcked: readonly { eventId: string }[]) => {
    acknowledged += rowsAcked.length;
    if (acknowledged >= BACKLOG && !ackedAt) ackedAt = now();
  };
  if (mode === "polling") {
    relay = startRelay(databaseUrl, onPublished);
  } else if (worker) {
    await registerConnector(worker.connect, target, stack.kafkaBrokers);
  }
  const catchUpReadableSeconds = ((await readable.until(BACKLOG)) - started) / 1000;
  const catchUpAckSeconds = mode === "polling" ? (ackedAt - started) / 1000 : null;

  // 2. Latency: a steady rate of one-event transactions from a process of their own (as the API's are); commit
  // time is when COMMIT returned to the writer.
  const ackedAtById = new Map<string, number>();
  const registry = new Registry();
  if (relay) {
    await relay.stop();
    relay = startRelay(
      databaseUrl,
      (rowsAcked) => {
        const at = now();
        for (const row of rowsAcked) ackedAtById.set(row.eventId, at);
      },
      registry,
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const { achievedRate, committedAt } = await steadyWrites({
    databaseUrl,
    rate: RATE,
    seconds: SECONDS,
    correlationId: context.metadata.correlationId,
  });
  await readable.until(BACKLOG + RATE * SECONDS, 60_000);
  const arrivals = await readable.arrivals();
  const latenciesTo = (reachedAt: (eventId: string) => number | undefined) =>
    committedAt.flatMap(([eventId, committed]) => {
      const reached = reachedAt(eventId);
      return reached === undefined ? [] : [reached - committed];
    });
  const ackLatenciesMs = relay ? latenciesTo((eventId) => ackedAtById.get(eventId)) : [];
  const readableLatenciesMs = latenciesTo((eventId) => arrivals.get(eventId));
  const phases = relay ? await cyclePhases(registry) : [];

  await relay?.stop();
  // The database this mode ran in: its connector and slot go with it.
  if (mode === "debezium")
    await releaseDatabase(stack.databaseUrl, decodeURIComponent(new URL(databaseUrl).pathname.slice(1)));
  await db.$client.end();
  return {
    phases,
    catchUpAckSeconds,
    catchUpReadableSeconds,
    ackLatenciesMs,
    readableLatenciesMs,
    achievedRate,
  };
}

interface PhaseFigures {
  phase: string;
  meanMs: number;
  /** The upper bound of the histogram bucket that holds the 99th percentile. */
  p99AtMostMs: number;
}

/** The relay's own histogram of its cycle's phases, read from its registry: exact means, bucketed p99s. */
async function cyclePhases(registry: Registry): Promise<PhaseFigures[]> {
  const metric = registry.getSingleMetric("outbox_relay_cycle_phase_seconds");
  if (!metric) return [];
  const { values } = (await metric.get()) as {
    values: Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>;
  };
  const ofPhase = (phase: string, name: string) =>
    values.filter((value) => value.labels.phase === phase && value.metricName === name);
  return CYCLE_PHASES.map((phase) => {
    const count = ofPhase(phase, "outbox_relay_cycle_phase_seconds_count")[0]?.value ?? 0;
    const sum = ofPhase(phase, "outbox_relay_cycle_phase_seconds_sum")[0]?.value ?? 0;
    const p99 = ofPhase(phase, "outbox_relay_cycle_phase_seconds_bucket")
      .map((bucket) => ({ le: Number(bucket.labels.le), cumulative: bucket.value }))
      .sort((a, b) => a.le - b.le)
      .find((bucket) => bucket.cumulative >= 0.99 * count);
    return {
      phase,
      meanMs: count ? (sum / count) * 1000 : Number.NaN,
      p99AtMostMs: (p99?.le ?? Number.NaN) * 1000,
    };
  });
}

function startRelay(
  databaseUrl: string,
  onPublished: (rows: readonly { eventId: string }[]) => void,
  registry = new Registry(),
): OutboxRelay {
  const relay = new OutboxRelay({
    databaseUrl,
    kafkaBrokers: stack.kafkaBrokers,
    log: createLogger({ level: "warn" }),
    registry,
    onPublished,
  });
  relay.start();
  return relay;
}

/**
 * A fresh healthcare_bench database on DATABASE_URL's server (or the stack's), never the named database itself:
 * the bench writes 100,000 events. A slot Debezium left on the last one is released first.
 */
async function freshBenchDatabase(serverUrl: string): Promise<string> {
  await releaseDatabase(serverUrl, BENCH_DATABASE);
  return freshDatabase(serverUrl, BENCH_DATABASE);
}

// API_PROCESSES: npm start's HTTP API served by N processes (node:cluster; the primary, which runs the relay,
// the consumers and the schedulers, serves no request). Workers share PORT (Node's round-robin). What a worker
// cannot know alone it asks the primary over the IPC channel: /metrics is every process's registry, the
// primary's and all workers', aggregated into one (prom-client's AggregatorRegistry: counters and histograms
// summed, so a scrape that lands on any worker sees the whole service); /health/ready includes the primary's
// checks (the relay's). A worker that dies, or does not answer a scrape, still counts with what it last reported:
// the sums never go down, which Prometheus would read as a counter reset (and rate() as a burst).
import cluster, { type Worker } from "node:cluster";
import { randomUUID } from "node:crypto";
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from "prom-client";
import { type ReadinessCheck, sharedCheck } from "../observability/health.ts";
import type { Logger } from "../observability/logger.ts";

type Json = MetricObjectWithValues<MetricValue<string>>[];
type Message =
  | { type: "api:ask"; id: string; question: "metrics" | "ready" }
  | { type: "api:answer"; id: string; ok: boolean; value: string }
  | { type: "api:registry-request"; id: string }
  | { type: "api:registry"; id: string; metrics: Json };

const ANSWER_TIMEOUT_MS = 5_000;

export interface ApiProcesses {
  /** SIGTERM to every worker, resolved once all have exited (each closes its server and its pool first). */
  stop(): Promise<void>;
}

export interface ApiProcessesOptions {
  count: number;
  /** The worker's script (an absolute path), run with this process's Node options (tsx's loader, if any). */
  script: string;
  /** Added to each worker's environment: the stack the primary settled on (DATABASE_URL, KAFKA_BROKERS). */
  env: Record<string, string>;
  registry: Registry;
  /** The primary's own readiness checks (the relay's), which every worker's /health/ready includes. */
  readiness: ReadinessCheck[];
  log: Logger;
  /**
   * Called when an API process exits before it ever served (its PORT in use, its configuration refused): the
   * next would fail alike, so none is started in its place, and the API cannot run.
   */
  onStartFailure(): void;
}

/**
 * In the primary: forks `count` API workers, replaces one that dies after it served, answers their questions.
 */
export function forkApiProcesses(options: ApiProcessesOptions): ApiProcesses {
  cluster.setupPrimary({ exec: options.script });
  let stopping = false;
  const registryWaits = new Map<string, { pending: Set<number>; got: Map<number, Json>; done: () => void }>();
  /** Each live worker's registry as it last answered a scrape. */
  const lastReported = new Map<number, Json>();
  /** The counters and histograms of the workers that exited, as they last reported them, summed. */
  let retired: Promise<Json> = Promise.resolve([]);
  // Each worker asks on each of its probes: one run answers them all.
  const readiness = options.readiness.map(sharedCheck);

  const fork = () => cluster.fork(options.env);
  for (let index = 0; index < options.count; index++) fork();
  /** The workers that have listened on PORT. */
  const served = new Set<number>();
  cluster.on("listening", (worker) => served.add(worker.id));
  cluster.on("exit", (worker, code, signal) => {
    const last = lastReported.get(worker.id);
    lastReported.delete(worker.id);
    if (last !== undefined) retired = retired.then((sum) => summed([sum, cumulative(last)]));
    if (stopping) return;
    const pid = worker.process.pid;
    if (!served.delete(worker.id)) {
      // Replaced, it would fail the same way, every second or so, for ever: the reason is its own last line.
      stopping = true;
      options.log.error(
        { pid, code, signal },
        "an API process exited before it served: the API cannot start",
      );
      options.onStartFailure();
      return;
    }
    options.log.error({ pid, code, signal }, "an API process died; starting another");
    fork();
  });

  const workersMetrics = (): Promise<Json[]> => {
    const id = randomUUID();
    const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => !!worker);
    return new Promise((resolve) => {
      const wait = {
        pending: new Set(workers.map((worker) => worker.id)),
        got: new Map<number, Json>(),
        done: () => {
          registryWaits.delete(id);
          clearTimeout(timer);
          // A worker that exited since it answered is counted in `retired` already, with what it reported before.
          for (const [worker, metrics] of wait.got) {
            const live = cluster.workers?.[worker];
            if (live !== undefined && !live.isDead()) lastReported.set(worker, metrics);
          }
          resolve([...lastReported.values()]);
        },
      };
      // A worker that does not answer (dying, or busy beyond the timeout) counts with what it last reported.
      const timer = setTimeout(wait.done, ANSWER_TIMEOUT_MS);
      registryWaits.set(id, wait);
      for (const worker of workers) worker.send({ type: "api:registry-request", id } satisfies Message);
      if (workers.length === 0) wait.done();
    });
  };

  const answer = async (question: "metrics" | "ready"): Promise<string> => {
    if (question === "ready") {
      await Promise.all(readiness.map(({ check }) => check()));
      return "ready";
    }
    const all = [await options.registry.getMetricsAsJSON(), ...(await workersMetrics()), await retired];
    return AggregatorRegistry.aggregate(all as never).metrics();
  };

  cluster.on("message", (worker, message: Message) => {
    if (message.type === "api:registry") {
      const wait = registryWaits.get(message.id);
      if (!wait) return;
      wait.got.set(worker.id, message.metrics);
      wait.pending.delete(worker.id);
      if (wait.pending.size === 0) wait.done();
    } else if (message.type === "api:ask") {
      answer(message.question).then(
        (value) => worker.send({ type: "api:answer", id: message.id, ok: true, value } satisfies Message),
        (error: Error) =>
          worker.send({
            type: "api:answer",
            id: message.id,
            ok: false,
            value: error.message,
          } satisfies Message),
      );
    }
  });

  return {
    async stop() {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => !!worker);
      await Promise.all(
        workers.map(
          (worker) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) return resolve();
              worker.once("exit", () => resolve());
              worker.process.kill("SIGTERM");
            }),
        ),
      );
    },
  };
}

/** `registries` summed as AggregatorRegistry sums them (by each metric's aggregator). */
function summed(registries: Json[]): Promise<Json> {
  return AggregatorRegistry.aggregate(registries as never).getMetricsAsJSON() as Promise<Json>;
}

/** What of a registry only grows, and so outlives its process: its counters and histograms. */
function cumulative(registry: Json): Json {
  // `type` is typed as an enum of numbers, but is the type's name at run time.
  return registry.filter((metric) => ["counter", "histogram"].includes(String(metric.type)));
}

/** In a worker: what it asks the primary, and its answer to the primary's scrape of its registry. */
export function primaryLink(registry: Registry) {
  const waiting = new Map<string, { resolve: (value: string) => void; reject: (error: Error) => void }>();
  process.on("message", (message: Message) => {
    if (message.type === "api:registry-request") {
      registry
        .getMetricsAsJSON()
        .then((metrics) =>
          process.send?.({ type: "api:registry", id: message.id, metrics } satisfies Message),
        );
    } else if (message.type === "api:answer") {
      const wait = waiting.get(message.id);
      waiting.delete(message.id);
      if (message.ok) wait?.resolve(message.value);
      else wait?.reject(new Error(message.value));
    }
  });
  const ask = (question: "metrics" | "ready") =>
    new Promise<string>((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the primary process did not answer (${question}) within ${ANSWER_TIMEOUT_MS} ms`));
      }, ANSWER_TIMEOUT_MS);
      waiting.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      process.send?.({ type: "api:ask", id, question } satisfies Message);
    });
  return {
    /** The whole service's metrics, in Prometheus text. */
    metrics: () => ask("metrics"),
    /** The primary's readiness checks, as one check of this worker's /health/ready. */
    readiness: { name: "relay-and-consumers-process", check: () => ask("ready") } satisfies ReadinessCheck,
  };
}

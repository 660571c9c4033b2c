// The frame every long-running process runs in (npm start, the relay, the consumers, a service, the reminder
// scheduler): configuration and key checks, tracing, the stack, the metrics registry, the ops server, and one
// shutdown.
import type { Hono } from "hono";
import type { Registry } from "prom-client";
import { ConfigError, type Env, loadEnv } from "../config/env.ts";
import { healthRoutes, type ReadinessCheck } from "../observability/health.ts";
import { createLogger, type Logger } from "../observability/logger.ts";
import { createRegistry, metricsRoute } from "../observability/metrics.ts";
import { startTracing } from "../observability/tracing.ts";
import { loadMasterKeys, type MasterKeys } from "../phi/masterKeys.ts";
import { ensureStack, type Stack, stackVariableProblems } from "../stack/index.ts";
import { limitHeapGrowth } from "./heapGrowth.ts";
import { closeGracefully, type FetchHandler, serveHttp } from "./httpServer.ts";

/** How long the stop steps may take together before the process gives up on them and exits with 1. */
export const SHUTDOWN_TIMEOUT_MS = 30_000;

export interface ProcessFrame<Config> {
  env: Env;
  /** What the process's own `configure` read, checked like the environment. */
  config: Config;
  log: Logger;
  /** Read at start, so that a bad PHI_MASTER_KEYS stops the start rather than the first write of patient data. */
  masterKeys: MasterKeys;
  stack: Stack;
  registry: Registry;
  /**
   * Adds a step to the shutdown on SIGINT or SIGTERM. Steps run one at a time, the last added first (what
   * started last stops first), then the stack this process started; a step that fails is logged and skipped.
   */
  onStop(step: () => unknown): void;
  /** Stops the process as a signal does, through its steps, and exits with `code`: a failure it cannot go on with. */
  exit(code: number): void;
  /** Serves `app` on PORT (closed first on shutdown); `listening` is told the port. */
  serve(app: { fetch: FetchHandler }, listening?: (port: number) => void): void;
  /** The ops routes of a process without an API of its own: /health/live, /health/ready and /metrics. */
  opsRoutes(readiness: ReadinessCheck[]): Hono;
}

export interface ProcessOptions<Config> {
  /** The logger's name: `relay`, `consumers`, `appointment-service`… */
  name: string;
  /** Reads the process's own configuration; a ConfigError stops the start with its message. */
  configure?: (env: Env) => Config;
  /** Where the stack reports what it starts (the logger by default). */
  say?: (line: string) => void;
  /**
   * False for a process that neither seals nor opens patient data (the relay): it reads no master key, so that
   * it need not be given PHI_MASTER_KEYS, which production requires of every other process.
   */
  patientData?: boolean;
}

/**
 * Starts the frame: the ConfigErrors from the environment, the process's configuration and the master keys are
 * printed, all of them, and it exits with 1 before anything starts; any other error is thrown.
 */
export async function startProcess<Config = undefined>(
  options: ProcessOptions<Config> & { patientData: false },
): Promise<Omit<ProcessFrame<Config>, "masterKeys">>;
export async function startProcess<Config = undefined>(
  options: ProcessOptions<Config>,
): Promise<ProcessFrame<Config>>;
export async function startProcess<Config>(
  options: ProcessOptions<Config>,
): Promise<Omit<ProcessFrame<Config>, "masterKeys"> & { masterKeys?: MasterKeys }> {
  const { env, config, keys } = checkConfiguration(options);
  limitHeapGrowth(env.HEAP_GROWTH_PERCENT);
  const log = createLogger({ level: env.LOG_LEVEL, name: options.name });
  const tracing = startTracing(env, { serviceName: options.name });
  if (tracing.exporting) log.info("exporting traces over OTLP");
  const steps: Array<() => unknown> = [];
  let stopping = false;
  /** Settled once the stack has started and its stop step is in place (or it failed to start). */
  let stackInPlace: Promise<unknown> = Promise.resolve();
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${options.name} stopping`);
    // A signal while the stack starts (a first start fetches Kafka's jars and formats its storage: Ctrl-C is
    // likely then): what it starts is stopped once it has, not left running.
    await stackInPlace;
    const timer = setTimeout(() => {
      log.error({ timeoutMs: SHUTDOWN_TIMEOUT_MS }, `${options.name} did not stop in time`);
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    let failed = false;
    for (const step of [...steps].reverse()) {
      try {
        await step();
      } catch (error) {
        failed = true;
        log.error({ err: error }, "a shutdown step failed");
      }
    }
    process.exit(failed ? 1 : (process.exitCode ?? 0));
  };
  // Registered before the stack starts, so that a signal while it starts up also stops cleanly.
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, stop);
  const starting = ensureStack(env, options.say ?? ((line) => log.info(line)));
  stackInPlace = starting.then(
    (stack) => {
      steps.push(() => stack.stopStarted());
      // Next to last: the spans of everything that stops before it are exported before the process exits.
      steps.push(() => tracing.shutdown());
    },
    () => {},
  );
  const stack = await starting;
  await stackInPlace;
  // Stopping already: the stop under way ends the process; its work never starts.
  if (stopping) await new Promise<never>(() => {});
  const registry = createRegistry();

  return {
    env,
    config,
    log,
    masterKeys: keys,
    stack,
    registry,
    onStop: (step) => steps.push(step),
    exit(code) {
      process.exitCode = code;
      void stop("SIGTERM");
    },
    serve(app, listening) {
      const server = serveHttp(app, { port: env.PORT, log }, listening);
      // A port in use (by another platform's process, or the relay started beside `npm start` on its PORT) is the
      // configuration's mistake: said so, and the process stops as on a signal, exit code 1.
      server.once("error", (error: NodeJS.ErrnoException) => {
        const why =
          error.code === "EADDRINUSE"
            ? "is in use by another process"
            : `cannot be listened on (${error.code})`;
        log.error(
          { port: env.PORT, code: error.code },
          `PORT=${env.PORT} ${why}: ${options.name} serves HTTP on PORT; set another, or PORT=0 for a free one`,
        );
        process.exitCode = 1;
        void stop("SIGTERM");
      });
      // Before every step added earlier (the pools among them): the requests in flight finish first.
      steps.push(() => closeGracefully(server));
    },
    opsRoutes: (readiness) => healthRoutes(readiness).route("/", metricsRoute(registry)),
  };
}

function checkConfiguration<Config>(options: ProcessOptions<Config>) {
  // Every problem at once: in production, a missing AUDIT_SIGNING_KEY and PHI_MASTER_KEYS are one start's news.
  const problems: string[] = [];
  const checked = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
      return undefined;
    }
  };
  const env = checked(() => loadEnv());
  if (env) problems.push(...stackVariableProblems(env));
  const config = env && checked(() => options.configure?.(env));
  const keys = options.patientData === false ? undefined : checked(() => loadMasterKeys());
  if (env === undefined || problems.length > 0) {
    console.error(new ConfigError(problems).message);
    process.exit(1);
  }
  return { env, config: config as Config, keys };
}

// Runs the platform's consumers as their own process (`npm run consumers`), with /metrics and /health on
// PORT. SIGTERM lets each consumer finish the record in flight, commit it and leave its group.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { healthRoutes } from "../observability/health.ts";
import { createRegistry, metricsRoute } from "../observability/metrics.ts";
import { ConfigError, loadEnv } from "../config/env.ts";
import { createDatabase } from "../db/client.ts";
import { createLogger } from "../observability/logger.ts";
import { masterKeys } from "../phi/masterKeys.ts";
import { ensureStack } from "../stack/index.ts";
import { loadConsumersConfig } from "./config.ts";
import { type PlatformConsumers, startPlatformConsumers } from "./platformConsumers.ts";

let env: ReturnType<typeof loadEnv>;
let config: ReturnType<typeof loadConsumersConfig>;
try {
  env = loadEnv();
  config = loadConsumersConfig();
  masterKeys();
} catch (error) {
  console.error(error instanceof ConfigError || error instanceof Error ? error.message : String(error));
  process.exit(1);
}

const log = createLogger({ level: env.LOG_LEVEL, name: "consumers" });
const stack = await ensureStack(env, (line) => log.info(line));
const registry = createRegistry();
const db = createDatabase(stack.databaseUrl, {
  // Each consumer holds one connection per partition it handles at once, plus one for its inbox checks.
  max: config.CONSUMERS.length * (config.CONSUMER_CONCURRENCY + 1),
  applicationName: "consumers",
});
// Registered before the consumers start, so that a SIGTERM while they join their groups also stops cleanly.
let stopping = false;
let platform: PlatformConsumers | null = null;
let server: ReturnType<typeof serve> | null = null;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "consumers stopping");
    await platform?.stop();
    server?.close();
    await db.$client.end();
    await stack.stopStarted();
    process.exit(0);
  });
}

platform = await startPlatformConsumers({ config, db, kafkaBrokers: stack.kafkaBrokers, log, registry });
const app = new Hono()
  .route("/", healthRoutes([{ name: "postgres", check: () => db.$client.query("SELECT 1") }]))
  .route("/", metricsRoute(registry));
server = serve({ fetch: app.fetch, port: env.PORT }, (info) =>
  log.info({ port: info.port, consumers: config.CONSUMERS }, "consumers metrics listening"),
);

// Runs the polling relay as its own process (`npm run relay`), with /metrics and /health on PORT.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { healthRoutes } from "../observability/health.ts";
import { createRegistry, metricsRoute } from "../observability/metrics.ts";
import { loadEnv } from "../config/env.ts";
import { createLogger } from "../observability/logger.ts";
import { ensureStack } from "../stack/index.ts";
import { OutboxRelay } from "./relay.ts";

const env = loadEnv();
const log = createLogger({ level: env.LOG_LEVEL, name: "relay" });
const stack = await ensureStack(env, (line) => log.info(line));
const registry = createRegistry();
const relay = new OutboxRelay({
  databaseUrl: stack.databaseUrl,
  kafkaBrokers: stack.kafkaBrokers,
  log,
  registry,
});
relay.start();

const app = new Hono()
  .route("/", healthRoutes([]))
  .route("/", metricsRoute(registry))
  .get("/relay/status", (c) => c.json({ name: relay.name, leader: relay.leader }));
const server = serve({ fetch: app.fetch, port: env.PORT }, (info) =>
  log.info({ port: info.port }, "relay metrics listening"),
);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, async () => {
    log.info({ signal }, "relay stopping");
    await relay.stop();
    server.close();
    await stack.stopStarted();
    process.exit(0);
  });
}

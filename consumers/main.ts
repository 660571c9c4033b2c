// Runs the platform's consumers as their own process (`npm run consumers`), with /metrics and /health on
// PORT. SIGTERM lets each consumer finish the record in flight, commit it and leave its group.
import { parseCommand } from "../cli/command.ts";
import { createDatabase } from "../db/client.ts";
import { startProcess } from "../process/frame.ts";
import { loadConsumersConfig } from "./config.ts";
import { startPlatformConsumers } from "./platformConsumers.ts";

parseCommand({
  usage: `usage: npm run consumers
  runs the platform's consumers (CONSUMERS) until Ctrl-C, with /metrics and /health on PORT`,
});
const frame = await startProcess({ name: "consumers", configure: () => loadConsumersConfig() });
const { env, config, log, stack, registry, masterKeys } = frame;
const db = createDatabase(stack.databaseUrl, {
  // Each consumer holds one connection per partition it handles at once, plus one for its inbox checks.
  max: config.CONSUMERS.length * (config.CONSUMER_CONCURRENCY + 1),
  applicationName: "consumers",
});
frame.onStop(() => db.$client.end());

const platform = await startPlatformConsumers({
  config,
  db,
  kafkaBrokers: stack.kafkaBrokers,
  log,
  registry,
  masterKeys,
  tracestateKeys: env.TRACESTATE_KEYS,
});
frame.onStop(() => platform.stop());
const readiness = [{ name: "postgres", check: () => db.$client.query("SELECT 1") }, platform.readiness];
frame.serve(frame.opsRoutes(readiness), (port) =>
  log.info({ port, consumers: config.CONSUMERS }, "consumers metrics listening"),
);

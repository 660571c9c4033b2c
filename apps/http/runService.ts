// Runs one service on its own (`tsx apps/<service>/main.ts`): the same frame, authentication and stack as the
// platform, with only that service's routes (and its background work, such as the reminder scheduler).
// `npm start` mounts every service on one port instead (apps/platform.ts).
import { relative } from "node:path";
import { parseCommand } from "../../cli/command.ts";
import { type Env, readEach } from "../../config/env.ts";
import { projectRoot } from "../../config/projectRoot.ts";
import { createDatabase, type Database } from "../../db/client.ts";
import { migrateDatabase } from "../../db/migrate.ts";
import type { Logger } from "../../observability/logger.ts";
import type { MasterKeys } from "../../phi/masterKeys.ts";
import { startProcess } from "../../process/frame.ts";
import { createTokenVerifier, expectedClaimsOf } from "./auth.ts";
import { startKeySweep } from "./idempotencyKeys.ts";
import { createServiceFrame, type ServiceApp } from "./service.ts";
import { signingKeys } from "./signingKeys.ts";

export interface ServiceDefinition {
  /** The service's name, as events name their source: `appointment-service`. */
  name: string;
  title: string;
  routes: (db: Database, log: Logger) => ServiceApp;
  /** Checks what the service reads besides the environment, at start (a ConfigError stops it there). */
  configure?: (env: Env) => unknown;
  /** Work that runs beside the HTTP routes; stopped on SIGTERM before the pool closes. */
  background?: (deps: { db: Database; env: Env; log: Logger; masterKeys: MasterKeys }) => {
    stop(): Promise<void>;
  };
}

export async function runService(service: ServiceDefinition): Promise<void> {
  // npm start's frame (cli/command.ts): --help and a bad argument are answered before anything starts, and an
  // error nothing catches (a Postgres that does not answer) is told in one line naming its variable.
  parseCommand({ usage: usageOf(service) });
  const frame = await startProcess({
    name: service.name,
    configure: (env) =>
      readEach({ service: () => service.configure?.(env), tokenKeys: () => signingKeys(env) }),
  });
  const { env, log, stack, registry, masterKeys } = frame;
  // Idempotent and serialized by an advisory lock: a service started alone finds its tables.
  await migrateDatabase(stack.databaseUrl);
  const db = createDatabase(stack.databaseUrl, { applicationName: service.name });
  frame.onStop(() => db.$client.end());
  const app = createServiceFrame({
    title: service.title,
    log,
    registry,
    db,
    masterKeys,
    verifyToken: createTokenVerifier(frame.config.tokenKeys, expectedClaimsOf(env)),
    tracestateKeys: env.TRACESTATE_KEYS,
    // What it serves with: Postgres alone. Its events reach Kafka through the outbox and a relay, which report
    // Kafka's state; a Kafka outage is no reason to stop taking writes, nor to start.
    readiness: [{ name: "postgres", check: () => db.$client.query("SELECT 1") }],
  });
  app.route("/", service.routes(db, log));
  // Every service takes Idempotency-Keys: each removes the expired ones (one process at a time does a round).
  const keySweep = startKeySweep(db, log);
  frame.onStop(() => keySweep.stop());
  const background = service.background?.({ db, env, log, masterKeys });
  if (background) frame.onStop(() => background.stop());
  frame.serve(app, (port) => log.info({ port }, `${service.name} listening`));
}

/** The usage of the file that runs `service` alone, as it was run: `npx tsx apps/patient/main.ts`. */
function usageOf(service: ServiceDefinition): string {
  const main = relative(projectRoot, process.argv[1] ?? "apps/<service>/main.ts");
  return `usage: npx tsx ${main}
  runs ${service.name} alone until Ctrl-C: its routes on PORT (with /health and /metrics)
  and the work it does beside them; migrates the database first, and takes the variables npm start takes
  (README, "Configuration"; apps/README.md)`;
}

// Runs one service on its own (`tsx apps/<service>/main.ts`): the same frame, authentication and stack as the
// platform, with only that service's routes (and its background work, such as the reminder scheduler).
// `npm start` mounts every service on one port instead (apps/platform.ts).
import { serve } from "@hono/node-server";
import { ConfigError, type Env, loadEnv } from "../../config/env.ts";
import { createDatabase, type Database } from "../../db/client.ts";
import { migrateDatabase } from "../../db/migrate.ts";
import { createKafka } from "../../kafka/client.ts";
import { createLogger, type Logger } from "../../observability/logger.ts";
import { masterKeys } from "../../phi/masterKeys.ts";
import { ensureStack } from "../../stack/index.ts";
import { createTokenVerifier } from "./auth.ts";
import { createRegistry } from "../../observability/metrics.ts";
import { createServiceFrame, type ServiceApp } from "./service.ts";
import { signingKeys } from "./signingKeys.ts";

export interface ServiceDefinition {
  /** The service's name, as events name their source: `appointment-service`. */
  name: string;
  title: string;
  routes: (db: Database) => ServiceApp;
  /** Work that runs beside the HTTP routes; stopped on SIGTERM before the pool closes. */
  background?: (deps: { db: Database; env: Env; log: Logger }) => { stop(): Promise<void> };
}

export async function runService(service: ServiceDefinition): Promise<void> {
  let env: Env;
  try {
    env = loadEnv();
    masterKeys();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  const log = createLogger({ level: env.LOG_LEVEL, name: service.name });
  const stack = await ensureStack(env, (line) => log.info(line));
  // Idempotent and serialized by an advisory lock: a service started alone finds its tables.
  await migrateDatabase(stack.databaseUrl);
  const db = createDatabase(stack.databaseUrl, { applicationName: service.name });
  const admin = createKafka({ brokers: stack.kafkaBrokers, clientId: service.name }).admin();
  await admin.connect();
  const registry = createRegistry();

  const app = createServiceFrame({
    title: service.title,
    log,
    registry,
    db,
    verifyToken: createTokenVerifier(await signingKeys(env), {
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
    }),
    readiness: [
      { name: "postgres", check: () => db.$client.query("SELECT 1") },
      { name: "kafka", check: () => admin.describeCluster() },
    ],
  });
  app.route("/", service.routes(db));
  const background = service.background?.({ db, env, log });
  const server = serve({ fetch: app.fetch, port: env.PORT }, (info) =>
    log.info({ port: info.port }, `${service.name} listening`),
  );

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, async () => {
      log.info({ signal }, `${service.name} stopping`);
      server.close();
      await background?.stop();
      await admin.disconnect();
      await db.$client.end();
      await stack.stopStarted();
      process.exit(0);
    });
  }
}

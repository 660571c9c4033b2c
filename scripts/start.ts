// `npm start`: brings up what is missing (Postgres, Kafka), migrates, applies the topic catalog, then serves
// the platform's HTTP API and runs the relay, the consumers, the reminder scheduler and the checkpoint sealer
// in this process. Ctrl-C stops all of it, and what it started.
import { serve } from "@hono/node-server";
import { startReminderScheduler } from "../apps/appointment/reminders.ts";
import { createTokenVerifier } from "../apps/http/auth.ts";
import { forgetExpiredKeys } from "../apps/http/idempotencyKeys.ts";
import { createRegistry } from "../apps/http/metrics.ts";
import { signingKeys } from "../apps/http/signingKeys.ts";
import { createPlatformApp } from "../apps/platform.ts";
import { startCheckpointSealer } from "../audit/checkpointSealer.ts";
import { loadSigningKey } from "../audit/signingKey.ts";
import { ConfigError, loadEnv } from "../config/env.ts";
import { loadConsumersConfig } from "../consumers/config.ts";
import { startPlatformConsumers } from "../consumers/platformConsumers.ts";
import { createDatabase } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { type DebeziumRelay, ensurePollingMode, startDebeziumRelay } from "../debezium/relay.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { createKafka } from "../kafka/client.ts";
import { createLogger } from "../observability/logger.ts";
import { masterKeys } from "../phi/masterKeys.ts";
import { OutboxRelay } from "../relay/relay.ts";
import { ensureStack } from "../stack/index.ts";

let env: ReturnType<typeof loadEnv>;
let consumersConfig: ReturnType<typeof loadConsumersConfig>;
try {
  env = loadEnv();
  consumersConfig = loadConsumersConfig();
  // Read now, so that a bad PHI_MASTER_KEYS stops the start rather than the first write of patient data.
  masterKeys();
} catch (error) {
  if (!(error instanceof ConfigError) && !(error as Error).message.startsWith("Invalid configuration"))
    throw error;
  console.error((error as Error).message);
  process.exit(1);
}

const say = (line: string) => console.log(`» ${line}`);
const log = createLogger({ level: env.LOG_LEVEL, name: "platform" });

const stack = await ensureStack(env, say);
await migrateDatabase(stack.databaseUrl);
say("database migrated");

const kafka = createKafka({ brokers: stack.kafkaBrokers, clientId: "platform" });
const admin = kafka.admin();
await admin.connect();
const topics = await applyTopics(admin);
say(
  `topics: ${topics.created.length} created, ${topics.updated.length} updated, ${topics.unchanged.length} unchanged`,
);

const registry = createRegistry();
const db = createDatabase(stack.databaseUrl);
const keys = await signingKeys(env);
if (keys.kind === "secret" && keys.origin === "development") {
  say("bearer tokens: the development secret in .data/ (set JWT_SECRET or JWT_JWKS_URL for real ones)");
}
const verifyToken = createTokenVerifier(keys, { issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE });
if (!process.env.PHI_MASTER_KEYS) {
  say("patient data: sealed with the development master key in .data/ (set PHI_MASTER_KEYS for real ones)");
}
let relay: OutboxRelay | null = null;
let debezium: DebeziumRelay | null = null;
try {
  if (env.RELAY_MODE === "polling") {
    await ensurePollingMode({ databaseUrl: stack.databaseUrl, kafkaBrokers: stack.kafkaBrokers, log: say });
    relay = new OutboxRelay({
      databaseUrl: stack.databaseUrl,
      kafkaBrokers: stack.kafkaBrokers,
      log,
      registry,
    });
    relay.start();
  } else if (env.RELAY_MODE === "debezium") {
    // The relay is a connector on a Kafka Connect worker (debezium/): start or reuse the worker, and hand over
    // from the polling relay if it was the one (relay/switch.ts).
    debezium = await startDebeziumRelay({
      databaseUrl: stack.databaseUrl,
      kafkaBrokers: stack.kafkaBrokers,
      log: say,
    });
  }
} catch (error) {
  console.error(`RELAY_MODE=${env.RELAY_MODE}: ${(error as Error).message}`);
  await stack.stopStarted();
  process.exit(1);
}

const app = createPlatformApp({
  db,
  kafkaAdmin: admin,
  log,
  registry,
  verifyToken,
  readiness: debezium ? [debezium.readiness] : [],
  consoleSignInUrl: env.CONSOLE_SIGN_IN_URL,
});
const reminders = startReminderScheduler({ db, log, hoursBefore: env.REMINDER_HOURS_BEFORE });

const consumersDb = createDatabase(stack.databaseUrl, { max: 12, applicationName: "consumers" });
const consumers = await startPlatformConsumers({
  config: consumersConfig,
  db: consumersDb,
  kafkaBrokers: stack.kafkaBrokers,
  log,
  registry,
});
say(`consumers: ${consumersConfig.CONSUMERS.join(", ")}`);

const sealer = startCheckpointSealer({ databaseUrl: stack.databaseUrl, key: await loadSigningKey(), log });
// Idempotency keys live a day (apps/http/idempotencyKeys.ts); the expired ones, and their answers, go hourly.
const keySweeper = setInterval(() => {
  forgetExpiredKeys(db)
    .then((forgotten) => forgotten > 0 && log.info({ forgotten }, "expired idempotency keys removed"))
    .catch((error: unknown) => log.warn({ err: error }, "removing expired idempotency keys failed"));
}, 3_600_000);

const server = serve({ fetch: app.fetch, port: env.PORT }, (info) => {
  const base = `http://localhost:${info.port}`;
  say(
    `platform API on ${base} (relay: ${env.RELAY_MODE}; metrics ${base}/metrics; OpenAPI ${base}/openapi.json)`,
  );
  say(`Postgres ${stack.databaseUrl.replace(/:[^:@/]*@/, ":***@")}, Kafka ${stack.kafkaBrokers.join(",")}`);
  say(`try it (API documentation on ${base}/docs):`);
  console.log("  TOKEN=$(npm run --silent token -- --role admin)");
  console.log(
    `  curl -s -X POST ${base}/patients -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"firstName":"Ada","lastName":"Lovelace","dateOfBirth":"1985-12-10","email":"ada@example.org","phone":"+14155552671"}'`,
  );
  say("and watch patient-events: npm run events:tail -- patient-events   (Ctrl-C stops everything)");
});

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    say("stopping");
    server.close();
    await consumers.stop();
    await consumersDb.$client.end();
    await relay?.stop();
    clearInterval(keySweeper);
    await sealer.stop();
    await reminders.stop();
    await admin.disconnect();
    await db.$client.end();
    await debezium?.stopStarted();
    await stack.stopStarted();
    process.exit(0);
  });
}

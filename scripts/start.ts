// `npm start`: brings up what is missing (Postgres, Kafka), migrates, applies the topic catalog, then runs the
// relay, the consumers, the reminder scheduler and the checkpoint sealer in this process, and serves the
// platform's HTTP API from API_PROCESSES processes (this one when 1; else that many forked ones, see
// process/apiProcesses.ts). Ctrl-C stops all of it, and what it started.
import cluster from "node:cluster";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { startReminderScheduler } from "../apps/appointment/reminders.ts";
import { startConsoleSignIn } from "../apps/console/provider.ts";
import { createTokenVerifier, expectedClaimsOf } from "../apps/http/auth.ts";
import { startKeySweep } from "../apps/http/idempotencyKeys.ts";
import { signingKeys } from "../apps/http/signingKeys.ts";
import { createPlatformApp } from "../apps/platform.ts";
import { startCheckpointSealer } from "../audit/checkpointSealer.ts";
import { loadSigningKey } from "../audit/signingKey.ts";
import { parseCommand } from "../cli/command.ts";
import { reportFailure } from "../cli/failure.ts";
import { readEach, withoutPassword } from "../config/env.ts";
import { loadConsumersConfig } from "../consumers/config.ts";
import { startPlatformConsumers } from "../consumers/platformConsumers.ts";
import { createDatabase } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { registerSlotMetrics } from "../debezium/metrics.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { type DebeziumRelay, ensurePollingMode, startDebeziumRelay } from "../handover/debeziumRelay.ts";
import { createKafka, kafkaSecurityFromEnvironment } from "../kafka/client.ts";
import { forkApiProcesses } from "../process/apiProcesses.ts";
import { startProcess } from "../process/frame.ts";
import { OutboxRelay } from "../relay/relay.ts";

parseCommand({
  usage: `usage: npm start
  brings up what is missing (Postgres, Kafka), migrates, applies the topic catalog, then runs the relay
  (RELAY_MODE), the consumers, the reminder scheduler and the checkpoint sealer in this process and serves the
  platform's HTTP API on PORT from API_PROCESSES processes (default: one per core) until Ctrl-C, which stops
  all of it and what it started`,
});

const say = (line: string) => console.log(`» ${line}`);
const frame = await startProcess({
  name: "platform",
  // The keys are read with the configuration: in production, without AUDIT_SIGNING_KEY, or without JWT_SECRET
  // or JWT_JWKS_URL, nothing starts.
  configure: (env) =>
    readEach({
      consumers: () => loadConsumersConfig(),
      signingKey: () => loadSigningKey(),
      tokenKeys: () => signingKeys(env),
    }),
  say,
});
const { env, log, stack, registry, masterKeys } = frame;
const { consumers: consumersConfig, signingKey, tokenKeys } = frame.config;
// The console's identity provider is read before anything else starts: a document that says something wrong
// stops the start; a provider that cannot be reached is read again later (apps/console/provider.ts).
const consoleSignIn = await startConsoleSignIn(env, log).catch(async (error: unknown) => {
  const code = reportFailure(error);
  await stack.stopStarted();
  process.exit(code);
});
await migrateDatabase(stack.databaseUrl);
say("database migrated");

const kafka = createKafka({ brokers: stack.kafkaBrokers, clientId: "platform" });
const admin = kafka.admin();
await admin.connect();
frame.onStop(() => admin.disconnect());
const topics = await applyTopics(admin);
say(
  `topics: ${topics.created.length} created, ${topics.updated.length} updated, ${topics.unchanged.length} unchanged`,
);

const db = createDatabase(stack.databaseUrl);
frame.onStop(() => db.$client.end());
if (tokenKeys.kind === "secret" && tokenKeys.origin === "development") {
  say("bearer tokens: the development secret in .data/ (set JWT_SECRET or JWT_JWKS_URL for real ones)");
}
const verifyToken = createTokenVerifier(tokenKeys, expectedClaimsOf(env));
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
      compression: env.KAFKA_COMPRESSION,
    });
    relay.start();
    frame.onStop(() => relay?.stop());
  } else if (env.RELAY_MODE === "debezium") {
    // The relay is a connector on a Kafka Connect worker (debezium/): start or reuse the worker, and hand over
    // from the polling relay if it was the one (handover/switch.ts).
    debezium = await startDebeziumRelay({
      databaseUrl: stack.databaseUrl,
      kafkaBrokers: stack.kafkaBrokers,
      connectorOptions: { compression: env.KAFKA_COMPRESSION },
      log: say,
    });
    frame.onStop(() => debezium?.stopStarted());
    const slotMetrics = registerSlotMetrics(registry, stack.databaseUrl);
    frame.onStop(() => slotMetrics.close());
  }
} catch (error) {
  const code = reportFailure(error, `the relay (RELAY_MODE=${env.RELAY_MODE})`);
  await stack.stopStarted();
  process.exit(code);
}

const reminders = startReminderScheduler({ db, log, masterKeys, hoursBefore: env.REMINDER_HOURS_BEFORE });
frame.onStop(() => reminders.stop());

const consumersDb = createDatabase(stack.databaseUrl, { max: 12, applicationName: "consumers" });
frame.onStop(() => consumersDb.$client.end());
const consumers = await startPlatformConsumers({
  config: consumersConfig,
  db: consumersDb,
  kafkaBrokers: stack.kafkaBrokers,
  log,
  registry,
  masterKeys,
  tracestateKeys: env.TRACESTATE_KEYS,
});
frame.onStop(() => consumers.stop());
say(`consumers: ${consumersConfig.CONSUMERS.join(", ")}`);

const sealer = startCheckpointSealer({
  databaseUrl: stack.databaseUrl,
  key: signingKey,
  log,
  registry,
});
frame.onStop(() => sealer.stop());
// Idempotency keys live a day (apps/http/idempotencyKeys.ts); the expired ones, and their answers, go at
// start and then hourly.
const keySweep = startKeySweep(db, log);
frame.onStop(() => keySweep.stop());

const readiness = [
  ...(debezium ? [debezium.readiness] : relay ? [relay.readiness] : []),
  consumers.readiness,
];
const announce = (port: number) => {
  const base = `http://localhost:${port}`;
  say(
    `platform API on ${base} (${env.API_PROCESSES === 1 ? "this process" : `${env.API_PROCESSES} processes`}; relay: ${env.RELAY_MODE}; metrics ${base}/metrics; OpenAPI ${base}/openapi.json)`,
  );
  say(`Postgres ${withoutPassword(stack.databaseUrl)}, Kafka ${stack.kafkaBrokers.join(",")}`);
  say(`try it (API documentation on ${base}/docs):`);
  console.log("  TOKEN=$(npm run --silent token -- --role admin)");
  console.log(
    `  curl -s -X POST ${base}/patients -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"firstName":"Ada","lastName":"Lovelace","dateOfBirth":"1985-12-10","email":"ada@example.org","phone":"+14155552671"}'`,
  );
  say("and watch patient-events: npm run events:tail -- patient-events   (Ctrl-C stops everything)");
};

if (env.API_PROCESSES === 1) {
  const app = createPlatformApp({
    db,
    masterKeys,
    kafkaAdmin: admin,
    kafkaBrokers: stack.kafkaBrokers,
    kafkaTls: kafkaSecurityFromEnvironment().tls !== undefined,
    log,
    registry,
    verifyToken,
    readiness,
    concurrentVerifications: env.AUDIT_VERIFY_CONCURRENCY,
    consoleSignIn,
    tracestateKeys: env.TRACESTATE_KEYS,
  });
  frame.serve(app, announce);
} else {
  // The API processes get the stack this process settled on, so that none of them starts its own.
  const api = forkApiProcesses({
    count: env.API_PROCESSES,
    // Beside this file, in the same form: apiProcess.ts under tsx, apiProcess.js compiled into dist/.
    script: fileURLToPath(new URL(`./apiProcess${extname(import.meta.url)}`, import.meta.url)),
    env: { DATABASE_URL: stack.databaseUrl, KAFKA_BROKERS: stack.kafkaBrokers.join(",") },
    registry,
    readiness,
    log,
    onStartFailure: () => frame.exit(1),
  });
  frame.onStop(() => api.stop());
  // Announced once every API process listens: before that, the port's round robin skips the ones still starting.
  let listening = 0;
  cluster.on("listening", (_worker, address) => {
    listening++;
    if (listening === env.API_PROCESSES) announce(address.port);
  });
}

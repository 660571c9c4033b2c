// `npm start`: brings up what is missing (Postgres, Kafka), migrates, applies the topic catalog, then serves
// the platform's HTTP API and runs the relay in this process. Ctrl-C stops all of it, and what it started.
import { serve } from "@hono/node-server";
import { createRegistry } from "../apps/http/metrics.ts";
import { createPlatformApp } from "../apps/platform.ts";
import { startCheckpointSealer } from "../audit/checkpointSealer.ts";
import { loadSigningKey } from "../audit/signingKey.ts";
import { ConfigError, loadEnv } from "../config/env.ts";
import { createDatabase } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { createKafka } from "../kafka/client.ts";
import { createLogger } from "../observability/logger.ts";
import { OutboxRelay } from "../relay/relay.ts";
import { ensureStack } from "../stack/index.ts";

let env: ReturnType<typeof loadEnv>;
try {
  env = loadEnv();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
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
const app = createPlatformApp({ db, kafkaAdmin: admin, log, registry });

let relay: OutboxRelay | null = null;
if (env.RELAY_MODE === "polling") {
  relay = new OutboxRelay({
    databaseUrl: stack.databaseUrl,
    kafkaBrokers: stack.kafkaBrokers,
    log,
    registry,
  });
  relay.start();
} else if (env.RELAY_MODE === "debezium") {
  console.error("RELAY_MODE=debezium is not available yet: use polling (the default) or off.");
  process.exit(1);
}

const sealer = startCheckpointSealer({ databaseUrl: stack.databaseUrl, key: await loadSigningKey(), log });

const server = serve({ fetch: app.fetch, port: env.PORT }, (info) => {
  const base = `http://localhost:${info.port}`;
  say(
    `platform API on ${base} (relay: ${env.RELAY_MODE}; metrics ${base}/metrics; OpenAPI ${base}/openapi.json)`,
  );
  say(`Postgres ${stack.databaseUrl.replace(/:[^:@/]*@/, ":***@")}, Kafka ${stack.kafkaBrokers.join(",")}`);
  say("try it:");
  console.log(
    `  curl -s -X POST ${base}/patients -H 'Content-Type: application/json' -d '{"firstName":"Ada","lastName":"Lovelace","dateOfBirth":"1985-12-10","email":"ada@example.org","phone":"+14155552671"}'`,
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
    await relay?.stop();
    await sealer.stop();
    await admin.disconnect();
    await db.$client.end();
    await stack.stopStarted();
    process.exit(0);
  });
}

// One of npm start's API processes when API_PROCESSES is 2 or more (process/apiProcesses.ts): serves the
// platform's HTTP API on PORT, which it shares with its siblings. The relay, the consumers and the schedulers
// run once, in the primary that forked it; /metrics and /health/ready ask the primary for what it alone knows.
import { startConsoleSignIn } from "../apps/console/provider.ts";
import { createTokenVerifier, expectedClaimsOf } from "../apps/http/auth.ts";
import { signingKeys } from "../apps/http/signingKeys.ts";
import { createPlatformApp } from "../apps/platform.ts";
import { createDatabase } from "../db/client.ts";
import { createKafka, kafkaSecurityFromEnvironment } from "../kafka/client.ts";
import { primaryLink } from "../process/apiProcesses.ts";
import { startProcess } from "../process/frame.ts";

const frame = await startProcess({ name: "api", configure: (env) => signingKeys(env) });
const { env, log, stack, registry, masterKeys, config: tokenKeys } = frame;
const primary = primaryLink(registry);
// Read by each API process, whose pages name the token endpoint: a wrong document stops it (exit 1), an
// unreachable provider is read again later.
const consoleSignIn = await startConsoleSignIn(env, log);

const admin = createKafka({ brokers: stack.kafkaBrokers, clientId: "platform-api" }).admin();
await admin.connect();
frame.onStop(() => admin.disconnect());
const db = createDatabase(stack.databaseUrl);
frame.onStop(() => db.$client.end());
const app = createPlatformApp({
  db,
  masterKeys,
  kafkaAdmin: admin,
  kafkaBrokers: stack.kafkaBrokers,
  kafkaTls: kafkaSecurityFromEnvironment().tls !== undefined,
  log,
  registry,
  verifyToken: createTokenVerifier(tokenKeys, expectedClaimsOf(env)),
  readiness: [primary.readiness],
  metrics: primary.metrics,
  concurrentVerifications: env.AUDIT_VERIFY_CONCURRENCY,
  consoleSignIn,
  tracestateKeys: env.TRACESTATE_KEYS,
});
frame.serve(app);

// The platform's HTTP surface: every service's routes behind the shared frame, on one port.
import type { Registry } from "prom-client";
import type { Database } from "../db/client.ts";
import type { Admin } from "../kafka/client.ts";
import type { ReadinessCheck } from "../observability/health.ts";
import type { Logger } from "../observability/logger.ts";
import type { MetricsSource } from "../observability/metrics.ts";
import type { MasterKeys } from "../phi/masterKeys.ts";
import { aiRoutes } from "./ai/routes.ts";
import { appointmentRoutes } from "./appointment/routes.ts";
import { auditRoutes, type CheckpointKeys, configuredCheckpointKeys } from "./audit/routes.ts";
import type { ConsoleSignInSource } from "./console/provider.ts";
import { consoleRoutes } from "./console/routes.ts";
import { documentRoutes } from "./document/routes.ts";
import type { TokenVerifier } from "./http/auth.ts";
import { eventDocumentationRoutes } from "./http/eventDocumentation.ts";
import { createServiceFrame } from "./http/service.ts";
import { loginAttemptRoutes } from "./login-attempts/routes.ts";
import { notificationRoutes } from "./notification/routes.ts";
import { patientRoutes } from "./patient/routes.ts";
import { providerRoutes } from "./provider/routes.ts";

export interface PlatformDeps {
  db: Database;
  /** This process's master keys, which every event the services write is sealed with. */
  masterKeys: MasterKeys;
  /** A connected admin client, used by readiness to check that the broker answers. */
  kafkaAdmin: Admin;
  /** The brokers the records are written to: /asyncapi.json names them (left out, the local stack's default). */
  kafkaBrokers?: readonly string[];
  /** Whether they are reached over TLS (KAFKA_SSL), which /asyncapi.json says too. */
  kafkaTls?: boolean;
  log: Logger;
  registry: Registry;
  /** Checks bearer tokens: `createTokenVerifier(signingKeys(env))`. */
  verifyToken: TokenVerifier;
  /** More dependencies /health/ready waits for (the Debezium connector in RELAY_MODE=debezium). */
  readiness?: ReadinessCheck[];
  /** The public keys that checkpoints are signed with, for GET /audit/verify; by default the signing key's. */
  checkpointKeys?: CheckpointKeys;
  /** GET /audit/verify calls that may run at once (AUDIT_VERIFY_CONCURRENCY). */
  concurrentVerifications?: number;
  /** The OpenID Connect provider the auditors' console signs in with (CONSOLE_OIDC_*: startConsoleSignIn). */
  consoleSignIn?: ConsoleSignInSource | undefined;
  /** What /metrics answers when the API spans processes (process/apiProcesses.ts); the registry's by default. */
  metrics?: MetricsSource;
  /** The keys of the members of a caller's tracestate that are kept (TRACESTATE_KEYS); none by default. */
  tracestateKeys?: ReadonlySet<string>;
}

export function createPlatformApp({
  db,
  masterKeys,
  kafkaAdmin,
  kafkaBrokers,
  kafkaTls,
  log,
  registry,
  verifyToken,
  readiness = [],
  checkpointKeys = configuredCheckpointKeys,
  concurrentVerifications,
  consoleSignIn,
  metrics,
  tracestateKeys,
}: PlatformDeps) {
  // Public, like /docs: the console's files hold no data, and it reads everything through the auditor API.
  const publicRoutes = eventDocumentationRoutes({ kafkaBrokers, kafkaTls }).route(
    "/",
    consoleRoutes({ signIn: consoleSignIn }),
  );
  const app = createServiceFrame({
    title: "Healthcare platform",
    log,
    registry,
    db,
    masterKeys,
    verifyToken,
    readiness: [
      { name: "postgres", check: () => db.$client.query("SELECT 1") },
      { name: "kafka", check: () => kafkaAdmin.describeCluster() },
      ...readiness,
    ],
    publicRoutes,
    metrics,
    tracestateKeys,
  });
  for (const routes of [
    patientRoutes,
    providerRoutes,
    appointmentRoutes,
    documentRoutes,
    notificationRoutes,
    aiRoutes,
    loginAttemptRoutes,
  ]) {
    app.route("/", routes(db));
  }
  app.route("/", auditRoutes(db, checkpointKeys, { log, concurrentVerifications, registry }));
  return app;
}

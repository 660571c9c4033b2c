// bench:audit's export server: the platform's routes as `npm start` mounts them (apps/platform.ts), alone in a
// process of their own, so that the benchmark (auditExport.bench.ts) reads this process's memory from /proc
// and nothing else's. DATABASE_URL, PORT, JWT_SECRET; no broker (readiness is not what is measured).
import { serve } from "@hono/node-server";
import { Registry } from "prom-client";
import { createTokenVerifier } from "../apps/http/auth.ts";
import { createPlatformApp } from "../apps/platform.ts";
import { createDatabase } from "../db/client.ts";
import type { Admin } from "../kafka/client.ts";
import { createLogger } from "../observability/logger.ts";
import { loadMasterKeys } from "../phi/masterKeys.ts";

const db = createDatabase(String(process.env.DATABASE_URL), { applicationName: "bench-audit-export" });
const app = createPlatformApp({
  db,
  masterKeys: loadMasterKeys(),
  kafkaAdmin: { describeCluster: async () => ({}) } as unknown as Admin,
  log: createLogger({ level: "warn" }),
  registry: new Registry(),
  verifyToken: createTokenVerifier({
    kind: "secret",
    secret: new TextEncoder().encode(process.env.JWT_SECRET),
    origin: "JWT_SECRET",
  }),
});
serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: "127.0.0.1" }, () =>
  process.send?.("listening"),
);

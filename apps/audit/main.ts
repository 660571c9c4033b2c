// The auditor API on its own: `tsx apps/audit/main.ts` (PORT, DATABASE_URL, AUDIT_SIGNING_KEY, ... as for
// `npm start`).
import { loadSigningKey } from "../../audit/signingKey.ts";
import { loadEnv } from "../../config/env.ts";
import { runService } from "../http/runService.ts";
import { AUDIT_SERVICE, auditRoutes, configuredCheckpointKeys } from "./routes.ts";

await runService({
  name: AUDIT_SERVICE,
  title: "Audit service",
  // Verification needs the signing key's public half: in production, without AUDIT_SIGNING_KEY, it does not start.
  configure: () => loadSigningKey(),
  // runService has checked the environment before it builds the routes.
  routes: (db, log) =>
    auditRoutes(db, configuredCheckpointKeys, {
      log,
      concurrentVerifications: loadEnv().AUDIT_VERIFY_CONCURRENCY,
    }),
});

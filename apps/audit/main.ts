// The auditor API on its own: `tsx apps/audit/main.ts` (PORT, DATABASE_URL, AUDIT_SIGNING_KEY, ... as for
// `npm start`).
import { runService } from "../http/runService.ts";
import { AUDIT_SERVICE, auditRoutes, sealerPublicKey } from "./routes.ts";

await runService({
  name: AUDIT_SERVICE,
  title: "Audit service",
  routes: (db) => auditRoutes(db, sealerPublicKey),
});

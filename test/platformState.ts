// What a request left behind: a digest of every service table (equal before and after: nothing changed) and
// the events committed under its correlation id.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Role } from "../apps/http/auth.ts";
import type { Database } from "../db/client.ts";
import type { CareWorld } from "./careWorld.ts";

/** The login each role acts with: the first patient's (a login without a record yet for a route that
 * `registers`), the first provider's, or a login of its own. */
export function loginOf(role: Role, world: CareWorld, routeCase?: { registers?: boolean }): string {
  if (role === "patient") return routeCase?.registers ? world.own.newcomerUserId : world.own.patientUserId;
  if (role === "provider") return world.own.providerUserId;
  return randomUUID();
}

const DOMAIN_TABLES = [
  "patients",
  "patient_former_logins",
  "providers",
  "appointments",
  "documents",
  "document_consents",
  "ai_models",
  "ai_predictions",
  "ai_insights",
  "idempotency_keys",
];

/**
 * A digest of every row of every service table: equal before and after means nothing changed. Per table, the
 * count of its rows and the sum of the 64-bit hashes of their versions: a row's version is the transaction that
 * wrote it (`xmin`) and where it lies (`ctid`), which every insert, update and delete moves, and a rolled-back
 * write does not (two changes cancelling out in the sum is a 1 in 2^64 chance). Hashing the version rather than
 * the row's text costs a fifth: no column is read, and the shared test database holds thousands of rows by the
 * time the suite's later files compare it.
 */
export async function stateDigest(db: Database): Promise<string> {
  const digests = DOMAIN_TABLES.map(
    (table) =>
      sql`(SELECT count(*) || '/' || coalesce(sum(hashtextextended(t.xmin::text || t.ctid::text, 0)), 0) FROM ${sql.identifier(table)} t)`,
  );
  const result = await db.execute<{ digest: string }>(
    sql`SELECT concat_ws(':', ${sql.join(digests, sql`, `)}) AS digest`,
  );
  return result.rows[0]?.digest ?? "";
}

export async function eventsOf(db: Database, correlationId: string) {
  const result = await db.execute<{ type: string; data: Record<string, unknown> }>(
    sql`SELECT event_type AS type, payload::jsonb -> 'data' AS data FROM outbox WHERE correlation_id = ${correlationId} ORDER BY position`,
  );
  return result.rows;
}

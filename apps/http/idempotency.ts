// `Idempotency-Key` on every route that changes something (POST, PUT, PATCH, DELETE: openapi.ts declares it on
// each): the first request with a key does its work and keeps its answer (status, body, headers) in the same
// transaction; a retry with the key gets that answer back (`Idempotent-Replayed: true`) and changes nothing,
// so it writes no second event. The same key with another request (method, path or body) is a 422.
// Keys are per principal, a login in one role: one caller's key never reveals another caller's answer, and
// the same login in another role (an admin who is also a patient) is another caller. Refused or failed
// requests roll back with their claim, so their retries run again. A kept answer names the patient whose data
// it holds: that patient's erasure deletes it, and replaying it is a read of their data (audit.data.accessed),
// allowed only to a caller who reaches that patient at the time of the retry. The erasure keeps the claim
// without the answer: a retry is a 410, not a second registration of the patient. A login attempt keeps the
// hashes of the login it typed, so that the erasure of whoever's it is finds it; one typing a login erased
// already keeps nothing but the claim.
import { createHash } from "node:crypto";
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { routePath } from "hono/route";
import {
  type Database,
  type WriteTransaction,
  type WriteTransactionOptions,
  writeTransaction,
} from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { type AuditedResource, dataAccessed } from "./auditEvents.ts";
import type { Principal } from "./auth.ts";
import { eventContext } from "./eventContext.ts";
import {
  claimIdempotencyKey,
  ERASED_WITH_PATIENT,
  findKeptResponse,
  type KeptResponse,
  keepErasedClaim,
  keepResponse,
} from "./idempotencyKeys.ts";
import { assertReachesPatient, findPatientOwner } from "./patientAccess.ts";
import { writeConditions } from "./preconditions.ts";
import { HttpProblem } from "./problem.ts";
import type { ServiceEnv } from "./service.ts";

/**
 * Declared by securedRoute on every route that changes something, so that the header is documented and a
 * malformed key is a 400 naming it; the route's handler does its work through answerOnce.
 */
export const idempotencyKeyHeader = z.object({
  "idempotency-key": z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, "must be 1 to 255 visible ASCII characters, e.g. a UUID")
    .optional()
    .openapi({
      // What makes a retry the same request (fingerprint, below), said where a client generator reads it.
      description:
        "Makes a retry safe: the first response is returned again, nothing is done twice. A retry is the same " +
        "method, path and body as the operation reads them: a field left out and the field sent with its " +
        "`default`, a UUID in either case, and fields in another order are the same request; any other " +
        "difference makes another (an instant spelt otherwise, `10:00:00Z` for `10:00:00.000Z`, too), and the " +
        "key sent with another request is a 422.",
    }),
});

/** A success as a route answers it; kept for the retries. */
export interface Answer<Status extends SuccessStatus, Body> {
  status: Status;
  /** `null` for a 204, which has no body. */
  body: Body;
  headers?: Record<string, string>;
  /**
   * The patient whose data the body holds, or the request did (a fingerprint is a hash of it): null when
   * nobody's. Kept with it, see above.
   */
  patientId: string | null;
  /**
   * The hashes of the logins (e-mail addresses, phone numbers) the request named a login by, if any
   * (db/erasedLogins.ts loginHashesOf): kept with the answer, so that the erasure of the patient whose login it
   * is, then or later, empties it too (the fingerprint is a hash of the request, and of the login in it).
   */
  loginHashes?: readonly Buffer[];
  /**
   * The request named a patient erased already (a login attempt typing their address or number): of it only the
   * claim is kept, as their erasure leaves one (no answer, no hash of the request), and a retry is a 410.
   */
  namesErased?: boolean;
}

type SuccessStatus = 200 | 201 | 202 | 204;

/**
 * Runs `work` in a write transaction, once per Idempotency-Key: the route answers with what this returns,
 * its own answer or, for a retry, the first request's (then with `Idempotent-Replayed: true`).
 */
export async function answerOnce<Status extends SuccessStatus, Body>(
  c: Context<ServiceEnv>,
  db: Database,
  /** The route's service, the source of the audit event a replay appends. */
  source: string,
  work: (tx: WriteTransaction) => Promise<Answer<Status, Body>>,
  /** Writers of one aggregate in line rather than colliding (db/client.ts, writeTransaction). */
  options: WriteTransactionOptions = {},
): Promise<Answer<Status, Body>> {
  writeConditions.before(c);
  const key = c.req.header("idempotency-key");
  const principalId = c.get("principal").userId;
  const requestFingerprint = key === undefined ? "" : await fingerprint(c);

  const { answer, replayed } = await writeTransaction(db, options, async (tx) => {
    if (key !== undefined && !(await claimIdempotencyKey(tx, { principalId, key, requestFingerprint }))) {
      const kept = await keptAnswer(tx, principalId, key, requestFingerprint);
      if (kept.patientId !== null) {
        const resource = { type: "stored_response", id: canonicalPath(c), patientId: kept.patientId };
        await assertStillReaches(tx, c.get("principal"), { source, resource });
        // A 204 shows nothing: its replay is no read of the patient's data.
        if (kept.status !== 204) {
          await appendEvents(tx, eventContext(c, source), [dataAccessed(c.get("principal"), resource)]);
        }
      }
      // Kept by this same route, whose successes all have this status and body type.
      const answer = {
        status: kept.status,
        body: JSON.parse(kept.body),
        headers: kept.headers,
        patientId: kept.patientId,
      };
      return { answer: answer as Answer<Status, Body>, replayed: true };
    }
    const answer = await work(tx);
    writeConditions.after(c);
    if (key !== undefined && answer.namesErased) await keepErasedClaim(tx, principalId, key);
    else if (key !== undefined) {
      await keepResponse(
        tx,
        principalId,
        key,
        {
          status: answer.status,
          body: JSON.stringify(answer.body),
          headers: answer.headers ?? {},
          patientId: answer.patientId,
        },
        answer.loginHashes,
      );
    }
    return { answer, replayed: false };
  });

  if (replayed) c.header("Idempotent-Replayed", "true");
  return answer;
}

/**
 * A kept answer about a patient is replayed only to a caller who reaches that patient now, as any read of their
 * data is decided: a login the patient's record was moved away from is refused (403), and once the patient is
 * deleted the answer is a 404, as their records are. An admin or a service reaches every patient, so their
 * answers replay whatever the patient's state since (an erasure's report among them: README, Erasure).
 */
async function assertStillReaches(
  tx: WriteTransaction,
  principal: Principal,
  refusal: { source: string; resource: AuditedResource & { patientId: string } },
): Promise<void> {
  if (principal.role === "admin" || principal.role === "service") return;
  const patient = await findPatientOwner(tx, refusal.resource.patientId);
  if (!patient) throw HttpProblem.notFound(`There is no patient ${refusal.resource.patientId}.`);
  await assertReachesPatient(tx, principal, patient, refusal);
}

/**
 * The request's path as the route read it: its parameters as validated (ids lower-cased), whatever the client
 * spelled ("/patients/A0EE…", a percent-encoded digit). The audit record of a replay names the stored response by
 * it, so that one answer is one resource id, canonical as every id the platform records.
 */
function canonicalPath(c: Context<ServiceEnv>): string {
  const params = ((c.req as unknown as { valid(target: string): unknown }).valid("param") ?? {}) as Record<
    string,
    string
  >;
  return routePath(c).replace(/:(\w+)/g, (placeholder, name: string) => params[name] ?? placeholder);
}

async function keptAnswer(
  tx: WriteTransaction,
  principalId: string,
  key: string,
  requestFingerprint: string,
): Promise<KeptResponse> {
  const kept = await findKeptResponse(tx, principalId, key);
  if (kept?.requestFingerprint === ERASED_WITH_PATIENT) {
    throw new HttpProblem(
      410,
      "Gone",
      "The answer to the first request with this Idempotency-Key was erased with the patient whose data it held; " +
        "the request is not done again. Use a new key for a new request.",
    );
  }
  // The claim and the answer commit together, so a visible claim always has its answer.
  if (!kept?.response) throw new Error("an idempotency key is claimed but has no kept response");
  if (kept.requestFingerprint !== requestFingerprint) {
    throw new HttpProblem(
      422,
      "Unprocessable Content",
      "This Idempotency-Key was already used for a different request; use a new key for a new request.",
    );
  }
  return kept.response;
}

/**
 * The request as the route understood it: its caller's role, its method and route, and the path parameters
 * and body as validated (ids lower-cased, defaults filled in), in canonical JSON (keys sorted). "A0EE…" and
 * "a0ee…", or a default sent explicitly, are the same request; key order does not make a new one either. The
 * role is part of it because what a route does and shows depends on it: an admin's answer replayed to the
 * same login acting as a patient would show what the patient role cannot reach.
 */
async function fingerprint(c: Context<ServiceEnv>): Promise<string> {
  const request = c.req as unknown as { valid(target: string): unknown };
  const params = request.valid("param") ?? {};
  let body = request.valid("json");
  if (body === undefined) {
    // A route that validates no body: the bytes themselves are the request.
    body = await c.req.text();
  }
  return createHash("sha256")
    .update(
      `${c.get("principal").role} ${c.req.method} ${c.req.routePath}\n${canonicalJson({ params, body })}`,
    )
    .digest("hex");
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([name, item]) => `${JSON.stringify(name)}:${canonicalJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

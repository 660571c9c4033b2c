// The SQL of Idempotency-Key handling: claim a key in the request's transaction, read what an earlier request
// with it answered, keep this request's answer.
import { and, eq, sql } from "drizzle-orm";
import { connectionOf, type Database, type WriteTransaction } from "../../db/client.ts";
import { encodedPlaceholder, encodedValue, preparedPerConnection } from "../../db/preparedQuery.ts";
import { idempotencyKeys } from "../../db/schema.ts";
import { sweepAlone } from "../../db/sweepAlone.ts";
import type { Logger } from "../../observability/logger.ts";
import { type PeriodicSweep, startPeriodicSweep } from "../../process/periodicSweep.ts";

/** How long a key is remembered: a retry within a day replays; after it, the key names a new request. */
export const KEY_LIFETIME = "24 hours";
const expired = sql`${idempotencyKeys.createdAt} < now() - ${KEY_LIFETIME}::interval`;

/**
 * What a kept answer's request fingerprint becomes when its patient is erased (`eraseKeptAnswers`): the answer
 * and the fingerprint (a hash of the request, which held their data) are gone, the claim stays until the key
 * expires, so that a retry is refused (410) instead of done again, which would register the patient anew. What it
 * is from the start for a request that named a patient erased already (`keepErasedClaim`).
 */
export const ERASED_WITH_PATIENT = "erased-with-patient";

export interface KeptResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
  /** The patient whose data the body holds, if any. */
  patientId: string | null;
}

/**
 * Claims the key for this request; false when an earlier request holds it. A concurrent request with the same
 * key waits here for the first to end; under REPEATABLE READ it then fails with a serialization error (the
 * winner's row is outside its snapshot) and writeTransaction runs it again, when it finds the winner's answer.
 * A key older than KEY_LIFETIME is claimed afresh, whether or not the sweeper has removed it yet.
 */
export async function claimIdempotencyKey(
  tx: WriteTransaction,
  claim: { principalId: string; key: string; requestFingerprint: string },
): Promise<boolean> {
  const claimed = await keyClaim(tx).execute(claim);
  return claimed.length === 1;
}

// The statements of a request that names a key are prepared queries (db/preparedQuery.ts), built once per
// connection.
const keyClaim = preparedPerConnection((tx) =>
  tx
    .insert(idempotencyKeys)
    .values({
      principalId: sql.placeholder("principalId"),
      key: sql.placeholder("key"),
      requestFingerprint: sql.placeholder("requestFingerprint"),
    })
    .onConflictDoUpdate({
      target: [idempotencyKeys.principalId, idempotencyKeys.key],
      set: {
        requestFingerprint: encodedPlaceholder("requestFingerprint"),
        responseStatus: null,
        responseBody: null,
        responseHeaders: null,
        patientId: null,
        loginHashes: null,
        createdAt: sql`now()`,
      },
      setWhere: expired,
    })
    .returning({ key: idempotencyKeys.key })
    .prepare("idempotency-keys.claim.v1"),
);

const thisKey = and(
  eq(idempotencyKeys.principalId, sql.placeholder("principalId")),
  eq(idempotencyKeys.key, sql.placeholder("key")),
);

const keyRow = preparedPerConnection((tx) =>
  tx.select().from(idempotencyKeys).where(thisKey).prepare("idempotency-keys.find.v1"),
);

export async function findKeptResponse(
  tx: WriteTransaction,
  principalId: string,
  key: string,
): Promise<{ requestFingerprint: string; response: KeptResponse | null } | undefined> {
  const [row] = await keyRow(tx).execute({ principalId, key });
  if (!row) return undefined;
  const response =
    row.responseStatus === null || row.responseBody === null
      ? null
      : {
          status: row.responseStatus,
          body: row.responseBody,
          headers: row.responseHeaders ?? {},
          patientId: row.patientId,
        };
  return { requestFingerprint: row.requestFingerprint, response };
}

/**
 * Keeps the answer with its claim; with the hashes of the logins (addresses, numbers) the request named, when it
 * named any (db/erasedLogins.ts loginHashesOf), so that the erasure of whoever's they are finds it.
 */
export async function keepResponse(
  tx: WriteTransaction,
  principalId: string,
  key: string,
  response: KeptResponse,
  loginHashes: readonly Buffer[] = [],
): Promise<void> {
  await keptResponse(tx).execute({
    principalId,
    key,
    responseStatus: encodedValue(idempotencyKeys.responseStatus, response.status),
    responseBody: encodedValue(idempotencyKeys.responseBody, response.body),
    responseHeaders: encodedValue(idempotencyKeys.responseHeaders, response.headers),
    patientId: encodedValue(idempotencyKeys.patientId, response.patientId),
  });
  if (loginHashes.length === 0) return;
  await connectionOf(tx).query({
    name: "idempotency-keys.keep-login-hashes.v1",
    text: "UPDATE idempotency_keys SET login_hashes = $3::bytea[] WHERE principal_id = $1 AND key = $2",
    values: [principalId, key, loginHashes],
  });
}

const keptResponse = preparedPerConnection((tx) =>
  tx
    .update(idempotencyKeys)
    .set({
      responseStatus: encodedPlaceholder("responseStatus"),
      responseBody: encodedPlaceholder("responseBody"),
      responseHeaders: encodedPlaceholder("responseHeaders"),
      patientId: encodedPlaceholder("patientId"),
    })
    .where(thisKey)
    .prepare("idempotency-keys.keep-response.v1"),
);

/**
 * Keeps the claim as an erasure leaves it (ERASED_WITH_PATIENT, no answer) for a request that named a patient
 * erased already: its fingerprint, a hash of the request, would hash their address or number.
 */
export async function keepErasedClaim(tx: WriteTransaction, principalId: string, key: string): Promise<void> {
  await connectionOf(tx).query({
    name: "idempotency-keys.keep-erased-claim.v1",
    text: "UPDATE idempotency_keys SET request_fingerprint = $3 WHERE principal_id = $1 AND key = $2",
    values: [principalId, key, ERASED_WITH_PATIENT],
  });
}

/**
 * Empties every answer kept about the patient, whether or not it quotes their id, and every answer to a request
 * that named one of their logins (`loginHashes`: their addresses' and numbers' hashes, as the erasure records
 * them in erased_logins) and no patient when it was made (typed before they registered with it); keeps each claim
 * as ERASED_WITH_PATIENT. An answer kept about another patient stays theirs: an address two patients share (a
 * family's) typed at the other's account is the other's, who lives on. The number emptied. Part of the patient's erasure (apps/patient/erasure.ts).
 */
export async function eraseKeptAnswers(
  tx: WriteTransaction,
  patientId: string,
  loginHashes: readonly Buffer[],
): Promise<number> {
  const { rowCount } = await connectionOf(tx).query({
    name: "idempotency-keys.erase-with-patient.v3",
    text: `UPDATE idempotency_keys
              SET request_fingerprint = $1, response_status = NULL, response_body = NULL, response_headers = NULL,
                  login_hashes = NULL
            WHERE (patient_id = $2 OR (patient_id IS NULL AND login_hashes && $3::bytea[]))
              AND request_fingerprint <> $1`,
    values: [ERASED_WITH_PATIENT, patientId, loginHashes],
  });
  return rowCount ?? 0;
}

/** Hourly: keys live a day, and their answers may quote patient data. */
const KEY_SWEEP_EVERY_MS = 3_600_000;

/** Wherever the API runs: expired keys are removed at start, then hourly. */
export function startKeySweep(db: Database, log: Logger): PeriodicSweep {
  return startPeriodicSweep({
    what: "expired idempotency keys",
    everyMs: KEY_SWEEP_EVERY_MS,
    sweep: () => forgetExpiredKeys(db),
    log,
  });
}

/**
 * Removes keys older than KEY_LIFETIME (and the answers they keep, which may quote patient data); null when
 * another process is removing them right now.
 */
export async function forgetExpiredKeys(db: Database): Promise<number | null> {
  return sweepAlone(db, "idempotency-keys", async (tx) => {
    const forgotten = await tx.delete(idempotencyKeys).where(expired).returning({ key: idempotencyKeys.key });
    return forgotten.length;
  });
}

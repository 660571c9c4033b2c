// A login attempt recorded with an Idempotency-Key keeps, for the key's retries, its answer and a hash of the
// request (the fingerprint): a hash of the username as typed. One typing an address or number that was nobody's
// at the time (before the patient registered with it, or changed to it) named no patient, so the patient's
// erasure, which empties the kept answers that name them, did not find it: the hash of their address outlived
// the erasure. The answer now keeps the keyed hashes of the login it typed, as erased_logins holds a patient's,
// and the erasure empties every kept answer whose request typed one of the patient's addresses or numbers,
// current or former, in any spelling; a retry of it is a 410, as for the patient's own answers. One typing an
// address or number erased already keeps only the claim from the start, as an erasure leaves it.
import { randomInt, randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";
import { ERASED_WITH_PATIENT } from "../http/idempotencyKeys.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const send = (who: Caller, method: string, path: string, body?: unknown, key?: string) =>
  app.request(path, {
    method,
    headers: who.headers({
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      ...(key === undefined ? {} : { "Idempotency-Key": key }),
    }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });

interface KeptRow {
  requestFingerprint: string;
  responseBody: string | null;
  patientId: string | null;
  loginHashes: number | null;
}

/** The key's row as Postgres holds it (how many login hashes, not the hashes). */
async function keptRow(service: Caller, key: string): Promise<KeptRow | undefined> {
  const { rows } = await db.$client.query<KeptRow>(
    `SELECT request_fingerprint AS "requestFingerprint", response_body AS "responseBody",
            patient_id::text AS "patientId", cardinality(login_hashes) AS "loginHashes"
       FROM idempotency_keys WHERE principal_id = $1 AND key = $2`,
    [service.userId, key],
  );
  return rows[0];
}

/** A failed attempt typing `username`, sent with an Idempotency-Key; the key. */
async function attemptWithKey(service: Caller, username: string): Promise<{ key: string; body: unknown }> {
  const key = randomUUID();
  const body = { ...requestBodies.loginAttempt(), userId: null, username, reason: "unknown user" };
  const response = await send(service, "POST", "/internal/login-attempts", body, key);
  expect(response.status).toBe(201);
  return { key, body };
}

async function registered(overrides: Record<string, unknown>): Promise<string> {
  const response = await send(await caller("admin"), "POST", "/patients", newPatientBody(overrides));
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function erased(id: string): Promise<{ storedResponses: number }> {
  const response = await send(await caller("admin"), "POST", `/patients/${id}/erasure`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { removed: { storedResponses: number } }).removed;
}

const FINGERPRINT = /^[0-9a-f]{64}$/;

describe("a login attempt kept for its Idempotency-Key, typing an address that was nobody's yet", () => {
  it("is emptied by the erasure of the patient who registered with it later, its retry a 410", async () => {
    const service = await caller("service");
    const email = `later.${randomUUID()}@example.org`;
    const typedEarly = await attemptWithKey(service, email.toUpperCase());
    const escaped = await attemptWithKey(service, email.replace("@", "%40"));
    const someoneElse = await attemptWithKey(service, `other.${randomUUID()}@example.org`);
    for (const { key } of [typedEarly, escaped, someoneElse]) {
      expect(await keptRow(service, key)).toMatchObject({
        requestFingerprint: expect.stringMatching(FINGERPRINT),
        responseBody: expect.any(String),
        patientId: null,
        loginHashes: 1,
      });
    }

    const removed = await erased(await registered({ email }));

    expect(removed.storedResponses).toBe(2);
    for (const { key } of [typedEarly, escaped]) {
      expect(await keptRow(service, key)).toEqual({
        requestFingerprint: ERASED_WITH_PATIENT,
        responseBody: null,
        patientId: null,
        loginHashes: null,
      });
    }
    const retried = await send(service, "POST", "/internal/login-attempts", typedEarly.body, typedEarly.key);
    expect(retried.status).toBe(410);
    // Another address's attempt is no one's to erase: kept, and replayed.
    expect(await keptRow(service, someoneElse.key)).toMatchObject({
      requestFingerprint: expect.stringMatching(FINGERPRINT),
      responseBody: expect.any(String),
    });
    const replayed = await send(
      service,
      "POST",
      "/internal/login-attempts",
      someoneElse.body,
      someoneElse.key,
    );
    expect(replayed.status).toBe(201);
    expect(replayed.headers.get("Idempotent-Replayed")).toBe("true");
  });

  it("is emptied when the address was a former one of the erased patient's", async () => {
    const service = await caller("service");
    const former = `former.${randomUUID()}@example.org`;
    const typed = await attemptWithKey(service, former);
    const id = await registered({ email: former });
    const changed = await send(await caller("admin"), "PATCH", `/patients/${id}`, {
      email: `current.${randomUUID()}@example.org`,
    });
    expect(changed.status).toBe(200);

    await erased(id);

    expect(await keptRow(service, typed.key)).toMatchObject({
      requestFingerprint: ERASED_WITH_PATIENT,
      responseBody: null,
    });
  });
});

describe("a login attempt kept for its Idempotency-Key about another patient who shares the address", () => {
  it("stays that patient's when the first is erased: replayed, not a 410", async () => {
    const service = await caller("service");
    const shared = `family.${randomUUID()}@example.org`;
    const first = await registered({ email: shared });
    const account = randomUUID();
    const registeredByAccount = await send(
      await caller("patient", account),
      "POST",
      "/patients",
      newPatientBody({ email: shared }),
    );
    expect(registeredByAccount.status).toBe(201);
    const other = ((await registeredByAccount.json()) as { id: string }).id;
    const key = randomUUID();
    const body = {
      ...requestBodies.loginAttempt(),
      userId: account,
      username: shared,
      reason: "invalid password",
    };
    expect((await send(service, "POST", "/internal/login-attempts", body, key)).status).toBe(201);
    expect(await keptRow(service, key)).toMatchObject({ patientId: other, responseBody: expect.any(String) });

    await erased(first);

    expect(await keptRow(service, key)).toMatchObject({
      requestFingerprint: expect.stringMatching(FINGERPRINT),
      patientId: other,
      responseBody: expect.any(String),
    });
    const replayed = await send(service, "POST", "/internal/login-attempts", body, key);
    expect(replayed.status).toBe(201);
    expect(replayed.headers.get("Idempotent-Replayed")).toBe("true");
  });
});

describe("a login attempt kept for its Idempotency-Key, typing a number that was nobody's yet", () => {
  it("is emptied by the erasure of the patient who had it, current or former, typed in any spelling", async () => {
    const service = await caller("service");
    const line = String(randomInt(10 ** 8)).padStart(8, "0");
    const [head, tail] = [line.slice(0, 4), line.slice(4)];
    const national = await attemptWithKey(service, `(030) ${head}-${tail}`);
    const international = await attemptWithKey(service, `+49 30 ${line}`);
    const id = await registered({ phone: `+4930${line}` });
    expect(
      (await send(await caller("admin"), "PATCH", `/patients/${id}`, { phone: "+14155550123" })).status,
    ).toBe(200);
    expect(await keptRow(service, national.key)).toMatchObject({ patientId: null, loginHashes: 4 });

    await erased(id);

    for (const { key } of [national, international]) {
      expect(await keptRow(service, key)).toMatchObject({
        requestFingerprint: ERASED_WITH_PATIENT,
        responseBody: null,
        loginHashes: null,
      });
    }
  });
});

describe("a login attempt kept for its Idempotency-Key, typing an address erased already", () => {
  it("keeps only the claim, as the erasure leaves one: no answer, no hash of the request; its retry a 410", async () => {
    const service = await caller("service");
    const email = `erased.${randomUUID()}@example.org`;
    await erased(await registered({ email }));

    for (const typed of [email, email.replace("@", "&#64;")]) {
      const attempt = await attemptWithKey(service, typed);
      expect(await keptRow(service, attempt.key), typed).toEqual({
        requestFingerprint: ERASED_WITH_PATIENT,
        responseBody: null,
        patientId: null,
        loginHashes: null,
      });
      const retried = await send(service, "POST", "/internal/login-attempts", attempt.body, attempt.key);
      expect(retried.status, typed).toBe(410);
    }
  });
});

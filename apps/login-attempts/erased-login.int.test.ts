// An erased patient's e-mail address does not come back through the login attempts: typed after the erasure
// (in any case, with blanks around it) it matches no patient, so nothing could seal it, and it is recorded under
// a pseudonym drawn from a keyed hash of the address, the same for every attempt, and never the address. The
// hash key survives a master key rotation. A username that was never a patient's is still kept as typed.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createDatabase, type Database } from "../../db/client.ts";
import { rewrapErasedLoginKey } from "../../db/erasedLogins.ts";
import { freshDatabases } from "../../test/auditHistories.ts";
import { masterKeyRotation, newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const PSEUDONYM = /^erased-login:[0-9a-f]{32}$/;

const post = (platform: typeof app, who: Caller, path: string, body?: unknown) =>
  platform.request(path, {
    method: "POST",
    headers: who.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** ASCII's visible characters as their full-width forms, as a Japanese input method types them. */
const fullWidth = (text: string) =>
  text.replace(/[!-~]/g, (character) => String.fromCharCode(character.charCodeAt(0) + 0xfee0));

interface Recorded {
  aggregateId: string;
  patientId: string | null;
  payload: string;
  data: { username: string; reason: string | null; patientId: string | null };
}

/** A failed attempt with this username, and its outbox row as Postgres holds it. */
async function failedAttempt(
  username: string,
  platform = app,
  on: Database = db,
  reason = "invalid password",
): Promise<Recorded> {
  const response = await post(platform, await caller("service"), "/internal/login-attempts", {
    ...requestBodies.loginAttempt(),
    username,
    reason,
  });
  expect(response.status).toBe(201);
  const { eventId } = (await response.json()) as { eventId: string };
  const { rows } = await on.$client.query<Omit<Recorded, "data">>(
    `SELECT aggregate_id AS "aggregateId", patient_id::text AS "patientId", payload::text AS payload
       FROM outbox WHERE event_id = $1`,
    [eventId],
  );
  const row = rows[0] as Omit<Recorded, "data">;
  return { ...row, data: JSON.parse(row.payload).data };
}

/** A patient registered with this e-mail, then erased. */
async function erasedPatient(email: string, platform = app): Promise<void> {
  const admin = await caller("admin");
  const registered = await post(platform, admin, "/patients", newPatientBody({ email }));
  expect(registered.status).toBe(201);
  const { id } = (await registered.json()) as { id: string };
  expect((await post(platform, admin, `/patients/${id}/erasure`)).status).toBe(200);
}

describe("a login attempt typing an erased patient's e-mail", () => {
  it("is recorded under a pseudonym, the same for every attempt, never the address", async () => {
    const email = `Erased.${randomUUID()}@Example.org`;
    await erasedPatient(email);

    const attempts = [
      await failedAttempt(email.toUpperCase()),
      await failedAttempt(`  ${email.toLowerCase()} `),
    ];
    for (const attempt of attempts) {
      expect(attempt.payload.toLowerCase()).not.toContain(email.toLowerCase());
      expect(attempt.data.username).toMatch(PSEUDONYM);
      expect(attempt).toMatchObject({ patientId: null, aggregateId: attempt.data.username });
      expect(attempt.data.patientId).toBeNull();
    }
    expect(attempts[1]?.data.username).toBe(attempts[0]?.data.username);

    // An identity provider's reason quoting the address, in whatever case: the pseudonym stands in it too.
    const quoting = await failedAttempt(
      email,
      app,
      db,
      `unknown user ${email.toLowerCase()} (retyped ${email})`,
    );
    expect(quoting.payload.toLowerCase()).not.toContain(email.toLowerCase());
    expect(quoting.data.reason).toBe(
      `unknown user ${quoting.data.username} (retyped ${quoting.data.username})`,
    );

    // Another erased patient's address has a pseudonym of its own.
    const other = `erased.${randomUUID()}@example.org`;
    await erasedPatient(other);
    expect((await failedAttempt(other)).data.username).not.toBe(attempts[0]?.data.username);
  });

  it("is recorded under the same pseudonym typed in full-width letters, and the reason's full-width spelling too", async () => {
    const email = `erased.${randomUUID()}@example.org`;
    await erasedPatient(email);
    const ascii = await failedAttempt(email);
    expect(ascii.data.username).toMatch(PSEUDONYM);

    const typed = fullWidth(email);
    const wide = await failedAttempt(typed, app, db, `unknown user ${typed} (${email.toUpperCase()})`);
    expect(wide).toMatchObject({ patientId: null, aggregateId: ascii.data.username });
    expect(wide.data.username).toBe(ascii.data.username);
    expect(wide.data.reason).toBe(`unknown user ${ascii.data.username} (${ascii.data.username})`);
    expect(wide.payload).not.toContain(typed);
    expect(wide.payload.toLowerCase()).not.toContain(email);
  });

  it("keeps its pseudonym across a master key rotation, once the old master key is gone", async () => {
    // A database of its own: the rotation re-wraps the one hash key, which every other test's erasure needs
    // under the run's master key.
    const databases = freshDatabases("erased_login_rotation");
    await databases.setUp();
    const { db: own } = await databases.create();
    try {
      const email = `rotated.${randomUUID()}@example.org`;
      await erasedPatient(email, testPlatform(own));
      const before = (await failedAttempt(email, testPlatform(own), own)).data.username;
      expect(before).toMatch(PSEUDONYM);

      const { rotated, onlyNew } = masterKeyRotation(`erased-login-${randomUUID().slice(0, 8)}`);
      await rewrapErasedLoginKey(own, rotated);
      // A process of its own (no key cached) holding the new master key only.
      const fresh = createDatabase(ownUrl(own), { max: 2 });
      try {
        const after = await failedAttempt(email, testPlatform(fresh, { masterKeys: onlyNew }), fresh);
        expect(after.data.username).toBe(before);
      } finally {
        await fresh.$client.end();
      }
    } finally {
      await own.$client.end();
      await databases.tearDown();
    }
  });
});

describe("a login attempt typing an address that was never a patient's", () => {
  it("keeps it as typed, erasures recorded or not", async () => {
    await erasedPatient(`erased.${randomUUID()}@example.org`);
    const typed = `Never.${randomUUID()}@Example.org`;
    const attempt = await failedAttempt(typed);
    expect(attempt).toMatchObject({ patientId: null, aggregateId: typed });
    expect(attempt.data).toMatchObject({ username: typed, patientId: null });
  });
});

/** The connection string of a pool's database. */
function ownUrl(database: Database): string {
  return database.$client.options.connectionString as string;
}

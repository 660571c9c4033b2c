// A login attempt on the account of an erased patient: before the erasure its username was sealed under the
// patient's key (the account's record names them); after it, no record of the account is left to seal it under,
// and what was typed there (a username that is no address, a second address) was theirs all the same. It is
// recorded under the account's pseudonym, never as typed, with a reason that does not quote it.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const post = (who: Caller, path: string, body?: unknown) =>
  app.request(path, {
    method: "POST",
    headers: who.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });

interface Recorded {
  patientId: string | null;
  payload: string;
  data: { userId: string | null; username: string; reason: string | null };
}

async function failedAttempt(userId: string, username: string, reason: string): Promise<Recorded> {
  const response = await post(await caller("service"), "/internal/login-attempts", {
    ...requestBodies.loginAttempt(),
    userId,
    username,
    reason,
  });
  expect(response.status).toBe(201);
  const { eventId } = (await response.json()) as { eventId: string };
  const { rows } = await db.$client.query<Omit<Recorded, "data">>(
    `SELECT patient_id::text AS "patientId", payload::text AS payload FROM outbox WHERE event_id = $1`,
    [eventId],
  );
  const row = rows[0] as Omit<Recorded, "data">;
  return { ...row, data: JSON.parse(row.payload).data };
}

/** A patient registered by the login `account` itself, as a patient does. */
async function registeredBy(account: string): Promise<string> {
  const registered = await post(await caller("patient", account), "/patients", newPatientBody());
  expect(registered.status).toBe(201);
  return ((await registered.json()) as { id: string }).id;
}

describe("a login attempt on an erased patient's account", () => {
  it("is recorded under the account's pseudonym, whatever was typed, and its reason not quoting it", async () => {
    const account = randomUUID();
    const username = `user_${randomUUID().slice(0, 8)}`;
    const patientId = await registeredBy(account);
    const before = await failedAttempt(account, username, `bad password for ${username}`);
    expect(before.patientId).toBe(patientId);
    expect(before.payload).not.toContain(username);

    expect((await post(await caller("admin"), `/patients/${patientId}/erasure`)).status).toBe(200);

    const quoting = await failedAttempt(account, username, `bad password for ${username.toUpperCase()}`);
    const other = await failedAttempt(account, "second.address@example.org", "invalid password");
    for (const attempt of [quoting, other]) {
      expect(attempt.patientId).toBeNull();
      expect(attempt.data.userId).toBe(account);
      expect(attempt.data.username).toMatch(/^erased-login:[0-9a-f]{32}$/);
      expect(attempt.payload.toLowerCase()).not.toContain(username.toLowerCase());
      expect(attempt.payload).not.toContain("second.address");
    }
    // Quoted in another spelling, as a login is read: escaped, full-width, with an invisible character inside.
    const name = username.slice(5);
    for (const spelled of [
      `user_${name.replace(/^./, (first) => `%${first.charCodeAt(0).toString(16)}`)}`,
      `ｕｓｅｒ_${name}`,
      `us\u200ber_${name}`,
      `user&#95;${name}`,
    ]) {
      const escaped = await failedAttempt(account, username, `bad password for ${spelled}`);
      expect(escaped.data.reason, spelled).toBe(quoting.data.username);
    }
    // One pseudonym for the account, so the compliance watch counts its failed attempts together.
    expect(other.data.username).toBe(quoting.data.username);
    expect(quoting.data.reason).toBe(quoting.data.username);
    expect(other.data.reason).toBe("invalid password");
  });

  it("is recorded so on an account the patient's record belonged to before an admin moved it", async () => {
    const former = randomUUID();
    const patientId = await registeredBy(former);
    const admin = await caller("admin");
    const moved = await app.request(`/patients/${patientId}`, {
      method: "PATCH",
      headers: admin.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ userId: randomUUID().toUpperCase() }),
    });
    expect(moved.status).toBe(200);
    expect((await post(admin, `/patients/${patientId}/erasure`)).status).toBe(200);

    const attempt = await failedAttempt(former.toUpperCase(), "old_name_ada", "invalid password");
    expect(attempt.data.username).toMatch(/^erased-login:[0-9a-f]{32}$/);
    expect(attempt.payload).not.toContain("old_name_ada");
  });

  it("stays the patient's while another record of the account is left, and an account never erased keeps its text", async () => {
    const account = randomUUID();
    const first = await registeredBy(account);
    const admin = await caller("admin");
    const deleted = await app.request(`/patients/${first}`, { method: "DELETE", headers: admin.headers() });
    expect(deleted.status).toBe(204);
    const second = await registeredBy(account);
    expect((await post(admin, `/patients/${first}/erasure`)).status).toBe(200);
    const attempt = await failedAttempt(account, "ada_l", "invalid password");
    expect(attempt.patientId).toBe(second);
    expect(attempt.payload).not.toContain("ada_l");

    const stranger = await failedAttempt(randomUUID(), "nobody_known", "unknown user nobody_known");
    expect(stranger.data).toMatchObject({ username: "nobody_known", reason: "unknown user nobody_known" });
  });
});

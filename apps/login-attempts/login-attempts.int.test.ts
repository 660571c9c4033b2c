// A login attempt on a patient's login (their account, or their e-mail typed as the username, in any case)
// names the patient: the username is sealed under their key and is not the aggregate id, so after their
// erasure it reads nowhere. An attempt that matches no patient keeps what was typed, as the security record.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { PatientErased } from "../../db/patientKeys.ts";
import { decrypted, newPatientBody, testDatabase } from "../../test/fixtures.ts";
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

/** ASCII's visible characters as their full-width forms, as a Japanese input method types them. */
const fullWidth = (text: string) =>
  text.replace(/[!-~]/g, (character) => String.fromCharCode(character.charCodeAt(0) + 0xfee0));

async function attempt(service: Caller, report: Record<string, unknown>) {
  const response = await post(service, "/internal/login-attempts", {
    ...requestBodies.loginAttempt(),
    ...report,
  });
  expect(response.status).toBe(201);
  const { eventId } = (await response.json()) as { eventId: string };
  const { rows } = await db.$client.query<{ aggregateId: string; patientId: string | null; payload: string }>(
    `SELECT aggregate_id AS "aggregateId", patient_id::text AS "patientId", payload::text AS payload
       FROM outbox WHERE event_id = $1`,
    [eventId],
  );
  return rows[0] as { aggregateId: string; patientId: string | null; payload: string };
}

describe("login attempts", () => {
  it("seal a patient's username under their key, so that their erasure takes it too", async () => {
    const [admin, service] = [await caller("admin"), await caller("service")];
    const login = randomUUID();
    const body = newPatientBody({ userId: login, email: `login.${randomUUID()}@example.org` });
    const registered = await post(admin, "/patients", body);
    const { id } = (await registered.json()) as { id: string };

    // The e-mail typed in capitals, no account matched.
    const typed = body.email.toUpperCase();
    // The identity provider's reason may quote the username: it is sealed with it.
    const reason = `unknown user ${typed}`;
    const byEmail = await attempt(service, { userId: null, username: typed, reason });
    expect(byEmail).toMatchObject({ patientId: id, aggregateId: id });
    expect(byEmail.payload.toLowerCase()).not.toContain(body.email);
    expect((await decrypted(db, byEmail.payload)).data).toMatchObject({
      username: typed,
      reason,
      patientId: id,
    });

    // Their account, whatever username they typed.
    const byAccount = await attempt(service, {
      userId: login,
      username: "ada-l",
      success: true,
      reason: null,
    });
    expect(byAccount).toMatchObject({ patientId: id, aggregateId: login });
    expect(byAccount.payload).not.toContain('"ada-l"');

    expect((await post(admin, `/patients/${id}/erasure`)).status).toBe(200);
    for (const row of [byEmail, byAccount]) {
      await expect(decrypted(db, row.payload)).rejects.toThrow(PatientErased);
    }
  });

  it("name the patient whose e-mail is typed in full-width letters (a Japanese input method's), and seal it", async () => {
    const [admin, service] = [await caller("admin"), await caller("service")];
    const body = newPatientBody({ email: `wide.${randomUUID()}@example.org` });
    const { id } = (await (await post(admin, "/patients", body)).json()) as { id: string };

    const typed = fullWidth(body.email);
    const reason = `unknown user ${typed}`;
    const recorded = await attempt(service, { userId: null, username: typed, reason });
    expect(recorded).toMatchObject({ patientId: id, aggregateId: id });
    expect(recorded.payload).not.toContain(typed);
    expect((await decrypted(db, recorded.payload)).data).toMatchObject({
      username: typed,
      reason,
      patientId: id,
    });
  });

  it("name the account's own patient, never another record made with the same e-mail", async () => {
    const [admin, service] = [await caller("admin"), await caller("service")];
    const email = `shared.${randomUUID()}@example.org`;
    const records: Array<{ id: string; login: string }> = [];
    for (const _ of [1, 2]) {
      const login = randomUUID();
      const registered = await post(admin, "/patients", newPatientBody({ userId: login, email }));
      records.push({ id: ((await registered.json()) as { id: string }).id, login });
    }
    // Whichever id sorts first, each account's attempts name its own record.
    for (const { id, login } of records) {
      expect(await attempt(service, { userId: login, username: email })).toMatchObject({ patientId: id });
    }
    // The e-mail alone names the record that had it first.
    expect(await attempt(service, { userId: null, username: email })).toMatchObject({
      patientId: records[0]?.id,
    });
  });

  it("name the account's live record, whichever Postgres reads first, when it holds deleted ones too", async () => {
    const [admin, service] = [await caller("admin"), await caller("service")];
    const login = randomUUID();
    const register = async () => {
      const registered = await post(admin, "/patients", newPatientBody({ userId: login }));
      expect(registered.status).toBe(201);
      return ((await registered.json()) as { id: string }).id;
    };
    const first = await register();
    // One live record per login: the login registers again once its first record is deleted.
    expect((await post(admin, "/patients", newPatientBody({ userId: login }))).status).toBe(409);
    const deleted = await app.request(`/patients/${first}`, { method: "DELETE", headers: admin.headers() });
    expect(deleted.status).toBe(204);
    const second = await register();
    for (const _ of [1, 2, 3]) {
      expect(await attempt(service, { userId: login, username: "ada-l" })).toMatchObject({
        patientId: second,
      });
    }
    // The live record changed: its new row version now lies after the deleted one's in the table.
    const changed = await app.request(`/patients/${second}`, {
      method: "PATCH",
      headers: admin.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ phone: "+14155550100" }),
    });
    expect(changed.status).toBe(200);
    expect(await attempt(service, { userId: login, username: "ada-l" })).toMatchObject({ patientId: second });
  });

  it("keep a username that matches no patient as typed: it identifies none of theirs", async () => {
    const service = await caller("service");
    const username = `nobody.${randomUUID()}@example.org`;
    const row = await attempt(service, { userId: null, username });
    expect(row).toMatchObject({ patientId: null, aggregateId: username });
    expect(JSON.parse(row.payload).data).toMatchObject({ username, patientId: null });
  });
});

// `npm run phi:former-logins` records the former e-mail addresses and phone numbers of patients who changed them
// before a change recorded them (migrations 0023 and 0024), found in their history: afterwards a login attempt
// typing one names the patient and is sealed under their key, where before it was kept in plain text and
// outlived their erasure. A history whose address does not open, or a patient without a data key, is reported,
// and the others are still recorded.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnScript } from "../../test/childProcess.ts";
import { newPatientBody } from "../../test/fixtures.ts";
import { ownDatabase } from "../../test/ownDatabase.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const own = ownDatabase("former_logins");
let app: ReturnType<typeof testPlatform>;
beforeAll(async () => {
  await own.setUp();
  app = testPlatform(own.db);
});
afterAll(() => own.tearDown());

const send = (who: Caller, method: string, path: string, body?: unknown) =>
  app.request(path, {
    method,
    headers: who.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** A patient registered with `first` and `firstPhone`, who then changed both, as written before migration 0023. */
async function patientWhoChanged(first: string, firstPhone: string): Promise<string> {
  const admin = await caller("admin");
  const registered = await send(
    admin,
    "POST",
    "/patients",
    newPatientBody({ email: first, phone: firstPhone }),
  );
  expect(registered.status).toBe(201);
  const { id } = (await registered.json()) as { id: string };
  const changed = await send(admin, "PATCH", `/patients/${id}`, {
    email: `now.${randomUUID()}@example.org`,
    phone: "+14155552672",
  });
  expect(changed.status).toBe(200);
  await own.db.$client.query("DELETE FROM patient_former_logins WHERE patient_id = $1", [id]);
  return id;
}

/** A failed attempt typing `username`: the patient it names, and its outbox row as Postgres holds it. */
async function failedAttempt(username: string) {
  const response = await send(await caller("service"), "POST", "/internal/login-attempts", {
    ...requestBodies.loginAttempt(),
    username,
    reason: `unknown user ${username}`,
  });
  expect(response.status).toBe(201);
  const { eventId } = (await response.json()) as { eventId: string };
  const { rows } = await own.db.$client.query<{ row: string; patientId: string | null }>(
    `SELECT to_jsonb(outbox)::text AS row, patient_id AS "patientId" FROM outbox WHERE event_id = $1`,
    [eventId],
  );
  const [stored] = rows;
  if (!stored) throw new Error(`no outbox row for event ${eventId}`);
  return stored;
}

async function formerLoginRows(): Promise<number> {
  const { rows } = await own.db.$client.query<{ rows: number }>(
    "SELECT count(*)::int AS rows FROM patient_former_logins",
  );
  return rows[0]?.rows ?? 0;
}

async function runCommand() {
  const command = spawnScript("scripts/former-logins.ts", { env: { DATABASE_URL: own.url } });
  return { code: await command.exited, output: command.output() };
}

/** The registration's sealed address copied over the change's, behind the triggers: the copy no longer opens. */
async function sealCopiedOverChange(patientId: string): Promise<void> {
  const admin = await own.db.$client.connect();
  try {
    await admin.query("SET session_replication_role = replica");
    const changed = await admin.query(
      `UPDATE outbox AS updated
          SET payload = jsonb_set(updated.payload::jsonb, '{data,changes,email}', created.payload::jsonb -> 'data' -> 'email')::json
         FROM outbox AS created
        WHERE updated.aggregate_id = $1 AND updated.event_type = 'patient.updated'
          AND created.aggregate_id = $1 AND created.event_type = 'patient.created'`,
      [patientId],
    );
    expect(changed.rowCount).toBe(1);
  } finally {
    admin.release();
  }
}

/** The patient's data key row removed behind the triggers, as a faulty restore could leave it. */
async function keyRemoved(patientId: string): Promise<void> {
  const admin = await own.db.$client.connect();
  try {
    await admin.query("SET session_replication_role = replica");
    const removed = await admin.query("DELETE FROM patient_keys WHERE patient_id = $1", [patientId]);
    expect(removed.rowCount).toBe(1);
  } finally {
    admin.release();
  }
}

describe("npm run phi:former-logins", () => {
  it("records the former addresses and numbers of every history, so that an attempt typing one is sealed as the patient's", async () => {
    const formerAddress = `Former.${randomUUID()}@Example.org`;
    const changed = await patientWhoChanged(formerAddress, "+442079460958");
    const unreadable = await patientWhoChanged(`other.${randomUUID()}@example.org`, "+33142685300");
    await sealCopiedOverChange(unreadable);
    const keyless = await patientWhoChanged(`keyless.${randomUUID()}@example.org`, "+4930901820");
    await keyRemoved(keyless);
    const admin = await caller("admin");
    expect((await send(admin, "POST", "/patients", newPatientBody())).status).toBe(201);

    // As written before migration 0023: the former address names nobody and is kept as typed.
    const before = await failedAttempt(formerAddress);
    expect(before.patientId).toBeNull();
    expect(before.row).toContain(formerAddress);

    const first = await runCommand();
    expect(first.code).toBe(1);
    expect(first.output).toContain(
      "read the histories of 4 patients: 2 former e-mail addresses and phone numbers are recorded",
    );
    expect(first.output).toMatch(
      new RegExp(
        `patient ${unreadable}: the e-mail address or phone number at data\\.changes\\.email of event [0-9a-f-]{36} does not open`,
      ),
    );
    expect(first.output).toContain(
      `patient ${keyless}: their history holds sealed fields, and they have no data key`,
    );
    expect(first.output).toContain("2 patients' histories could not be read: nothing of theirs was recorded");
    expect(first.output).not.toContain(formerAddress);

    for (const typed of [` ${formerAddress.toLowerCase()} `, "+44 20 7946 0958", "020 7946 0958"]) {
      const after = await failedAttempt(typed);
      expect({ typed, patientId: after.patientId }).toEqual({ typed, patientId: changed });
      expect(after.row.toLowerCase()).not.toContain(formerAddress.toLowerCase());
      // The number's own digits, long enough that no identifier or hash in the row holds them by chance.
      expect(after.row).not.toContain(typed.trim());
      expect(after.row).not.toContain("79460958");
    }

    // Again: nothing new is recorded, and what was stays.
    const recorded = await formerLoginRows();
    const second = await runCommand();
    expect(second.code).toBe(1);
    expect(second.output).toContain("2 former e-mail addresses and phone numbers are recorded");
    expect(await formerLoginRows()).toBe(recorded);
  });
});

// A login attempt typing a live patient's former e-mail address (one a change of e-mail replaced) is the
// patient's, as one typing their current address is: it names them and its username is sealed under their key.
// Before, only the current address was looked up: the former one was recorded as typed, in plain text, naming
// no patient (also as the event's aggregate id, the record key on Kafka), so the patient's erasure left it
// behind in the outbox and the topic. The platform keeps former addresses only as keyed hashes.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { PatientErased } from "../../db/patientKeys.ts";
import { decrypted, newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const send = (who: Caller, method: string, path: string, body?: unknown) =>
  app.request(path, {
    method,
    headers: who.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** A failed attempt typing `username`, and its outbox row as Postgres holds it. */
async function failedAttempt(username: string) {
  const response = await send(await caller("service"), "POST", "/internal/login-attempts", {
    ...requestBodies.loginAttempt(),
    username,
    reason: `unknown user ${username}`,
  });
  expect(response.status).toBe(201);
  const { eventId } = (await response.json()) as { eventId: string };
  const { rows } = await db.$client.query<{ row: string; payload: string; patientId: string | null }>(
    `SELECT to_jsonb(outbox)::text AS row, payload::text AS payload, patient_id AS "patientId"
       FROM outbox WHERE event_id = $1`,
    [eventId],
  );
  const [stored] = rows;
  if (!stored) throw new Error(`no outbox row for event ${eventId}`);
  return stored;
}

/** Every table row and outbox row that holds `text` (in any case), as `table: row`. */
async function rowsHolding(text: string): Promise<string[]> {
  const { rows } = await db.$client.query<{ found: string }>(
    `SELECT 'outbox: ' || to_jsonb(o)::text AS found FROM outbox o WHERE strpos(lower(to_jsonb(o)::text), lower($1)) > 0
     UNION ALL
     SELECT 'patient_former_logins: ' || to_jsonb(f)::text FROM patient_former_logins f
      WHERE strpos(lower(to_jsonb(f)::text), lower($1)) > 0`,
    [text],
  );
  return rows.map((row) => row.found);
}

describe("a login attempt typing a patient's former e-mail", () => {
  it("names the patient and seals the address, which their erasure then takes with the rest", async () => {
    const admin = await caller("admin");
    const former = `former.${randomUUID()}@example.org`;
    const registered = await send(admin, "POST", "/patients", newPatientBody({ email: former }));
    expect(registered.status).toBe(201);
    const { id } = (await registered.json()) as { id: string };
    const changed = await send(admin, "PATCH", `/patients/${id}`, {
      email: `current.${randomUUID()}@example.org`,
    });
    expect(changed.status).toBe(200);

    // As typed, in another case with blanks around it, as a current address is matched.
    for (const typed of [former, `  ${former.toUpperCase()} `]) {
      const attempt = await failedAttempt(typed);
      expect(attempt.patientId).toBe(id);
      expect(attempt.row.toLowerCase()).not.toContain(former);
    }
    // The platform holds the former address as a hash only.
    expect(await rowsHolding(former)).toEqual([]);
    const { rows: kept } = await db.$client.query(
      "SELECT 1 FROM patient_former_logins WHERE patient_id = $1",
      [id],
    );
    expect(kept).toHaveLength(1);

    expect((await send(admin, "POST", `/patients/${id}/erasure`)).status).toBe(200);
    expect(await rowsHolding(former)).toEqual([]);
    const { rows: left } = await db.$client.query(
      "SELECT 1 FROM patient_former_logins WHERE patient_id = $1",
      [id],
    );
    expect(left).toEqual([]);
    // The attempts recorded while the patient was live are shredded with them.
    const { rows: attempts } = await db.$client.query<{ payload: string }>(
      "SELECT payload::text AS payload FROM outbox WHERE patient_id = $1 AND event_type = 'audit.login.attempt'",
      [id],
    );
    expect(attempts).toHaveLength(2);
    for (const { payload } of attempts) await expect(decrypted(db, payload)).rejects.toThrow(PatientErased);
  });

  it("leaves an address no patient ever had as typed", async () => {
    const stranger = `stranger.${randomUUID()}@example.org`;
    const attempt = await failedAttempt(stranger);
    expect(attempt.patientId).toBeNull();
    expect(attempt.row).toContain(stranger);
  });
});

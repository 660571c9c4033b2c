// An erased patient's former e-mail addresses do not come back through the login attempts either: the erasure
// opens every address their history holds (registration, each change) before it destroys their key, so one typed
// afterwards (in any case, with blanks around it) is recorded under its pseudonym, never as typed. An address (or
// phone number, which it opens too) that cannot be opened fails the erasure, which then changes nothing. An
// address never used is still kept as typed.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { Database } from "../../db/client.ts";
import { createLogger } from "../../observability/logger.ts";
import { freshDatabases } from "../../test/auditHistories.ts";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const PSEUDONYM = /^erased-login:[0-9a-f]{32}$/;

const send = (platform: typeof app, who: Caller, method: string, path: string, body?: unknown) =>
  platform.request(path, {
    method,
    headers: who.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });

interface RecordedAttempt {
  /** The whole outbox row, every column, as JSON text. */
  row: string;
  username: string;
}

/** A failed attempt with this username, and its outbox row as Postgres holds it. */
async function failedAttempt(username: string): Promise<RecordedAttempt> {
  const response = await send(app, await caller("service"), "POST", "/internal/login-attempts", {
    ...requestBodies.loginAttempt(),
    username,
  });
  expect(response.status).toBe(201);
  const { eventId } = (await response.json()) as { eventId: string };
  const { rows } = await db.$client.query<{ row: string; payload: string }>(
    "SELECT to_jsonb(outbox)::text AS row, payload::text AS payload FROM outbox WHERE event_id = $1",
    [eventId],
  );
  const [stored] = rows;
  if (!stored) throw new Error(`no outbox row for event ${eventId}`);
  return { row: stored.row, username: JSON.parse(stored.payload).data.username as string };
}

/** A patient registered with the first address, then changed to each of the others in turn. */
async function patientWithAddresses(platform: typeof app, [first, ...later]: string[]): Promise<string> {
  const admin = await caller("admin");
  const registered = await send(platform, admin, "POST", "/patients", newPatientBody({ email: first }));
  expect(registered.status).toBe(201);
  const { id } = (await registered.json()) as { id: string };
  for (const email of later) {
    expect((await send(platform, admin, "PATCH", `/patients/${id}`, { email })).status).toBe(200);
    // A change of phone in between: no address in it, a number to open.
    expect((await send(platform, admin, "PATCH", `/patients/${id}`, { phone: "+14155552672" })).status).toBe(
      200,
    );
  }
  return id;
}

const erase = async (platform: typeof app, id: string) =>
  send(platform, await caller("admin"), "POST", `/patients/${id}/erasure`);

describe("a login attempt typing an erased patient's former e-mail", () => {
  it("is recorded under the address's pseudonym, never the address, as their last one is", async () => {
    const addresses = ["First", "Second", "Last"].map((name) => `${name}.${randomUUID()}@Example.org`);
    const [first, second, last] = addresses as [string, string, string];
    const id = await patientWithAddresses(app, addresses);
    expect((await erase(app, id)).status).toBe(200);

    const attempts: RecordedAttempt[] = [];
    for (const typed of [`  ${first.toUpperCase()} `, second.toLowerCase(), second, last]) {
      attempts.push(await failedAttempt(typed));
    }
    for (const attempt of attempts) {
      expect(attempt.username).toMatch(PSEUDONYM);
      for (const address of addresses) expect(attempt.row.toLowerCase()).not.toContain(address.toLowerCase());
    }
    const [onFirst, onSecond, onSecondAgain, onLast] = attempts.map((attempt) => attempt.username);
    // One pseudonym per address, the same for every attempt on it.
    expect(onSecondAgain).toBe(onSecond);
    expect(new Set([onFirst, onSecond, onLast]).size).toBe(3);
  });
});

describe("a login attempt typing an address that was never a patient's", () => {
  it("keeps it as typed, after an erasure that recorded former addresses", async () => {
    const id = await patientWithAddresses(app, [
      `a.${randomUUID()}@example.org`,
      `b.${randomUUID()}@example.org`,
    ]);
    expect((await erase(app, id)).status).toBe(200);
    const never = `Never.${randomUUID()}@Example.org`;
    const attempt = await failedAttempt(never);
    expect(attempt.username).toBe(never);
  });
});

describe("an erasure whose patient's former e-mail or phone number cannot be opened", () => {
  it.each(["email", "phone"] as const)(
    "(%s) fails, and leaves the patient, their key and the erased addresses as they were",
    async (field) => {
      // A database of its own: the outbox row is altered behind the append-only triggers.
      const databases = freshDatabases("erased_former_email");
      await databases.setUp();
      const { db: own } = await databases.create();
      try {
        const lines: string[] = [];
        const log = createLogger({
          level: "error",
          destination: { write: (line: string) => lines.push(line) },
        });
        const platform = testPlatform(own, { log });
        const id = await patientWithAddresses(platform, [
          `a.${randomUUID()}@example.org`,
          `b.${randomUUID()}@example.org`,
        ]);
        await withSealedValueMoved(own, id, field);

        expect((await erase(platform, id)).status).toBe(500);
        expect(lines.join("")).toContain('"type":"FormerLoginUnreadable"');
        const state = await own.$client.query<{ patients: string; erased: string; hashes: string }>(
          `SELECT (SELECT count(*) FROM patients WHERE id = $1) AS patients,
                (SELECT count(*) FROM patient_keys WHERE patient_id = $1 AND erased_at IS NOT NULL) AS erased,
                (SELECT count(*) FROM erased_logins) AS hashes`,
          [id],
        );
        expect(state.rows[0]).toEqual({ patients: "1", erased: "0", hashes: "0" });
      } finally {
        await own.$client.end();
        await databases.tearDown();
      }
    },
  );
});

/**
 * The registration's sealed address (or number) copied over the change's, as an administrator bypassing the
 * triggers could: a seal is bound to its event and field, so the copy no longer opens.
 */
async function withSealedValueMoved(
  own: Database,
  patientId: string,
  field: "email" | "phone",
): Promise<void> {
  const admin = await own.$client.connect();
  try {
    await admin.query("SET session_replication_role = replica");
    const changed = await admin.query(
      `UPDATE outbox AS updated
          SET payload = jsonb_set(updated.payload::jsonb, ARRAY['data', 'changes', $2],
                                  created.payload::jsonb -> 'data' -> $2)::json
         FROM outbox AS created
        WHERE updated.aggregate_id = $1 AND updated.event_type = 'patient.updated'
          AND updated.payload -> 'data' -> 'changes' -> $2 IS NOT NULL
          AND created.aggregate_id = $1 AND created.event_type = 'patient.created'`,
      [patientId, field],
    );
    expect(changed.rowCount).toBe(1);
  } finally {
    admin.release();
  }
}

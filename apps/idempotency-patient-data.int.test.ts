// Answers kept for Idempotency-Key retries that hold a patient's data: each names its patient, so replaying
// one is recorded as a read of their data (audit.data.accessed), and the patient's erasure empties every one,
// whether it quotes their id or not, whatever case the erasure's path spells the id in, keeping its claim so that
// a retry is a 410 rather than a second registration. A replay is allowed only
// to a caller who still reaches the patient.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../test/fixtures.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const post = (user: Caller, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  app.request(path, {
    method: "POST",
    headers: user.headers(body === undefined ? headers : { "Content-Type": "application/json", ...headers }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });

/** The reads of kept answers recorded in the history: by whom, about whom. */
async function replayAccesses(actorId: string) {
  const { rows } = await db.$client.query<{ patientId: string | null; resourceId: string }>(
    `SELECT patient_id::text AS "patientId", payload::jsonb -> 'data' ->> 'resourceId' AS "resourceId"
       FROM outbox
      WHERE event_type = 'audit.data.accessed' AND payload::jsonb -> 'data' ->> 'actorId' = $1
        AND payload::jsonb -> 'data' ->> 'resourceType' = 'stored_response'`,
    [actorId],
  );
  return rows;
}

async function keptAnswers(principalId: string, keys: string[]) {
  const { rows } = await db.$client.query<{ key: string; patientId: string | null; answer: boolean }>(
    `SELECT key, patient_id::text AS "patientId", response_body IS NOT NULL AS answer
       FROM idempotency_keys WHERE principal_id = $1 AND key = ANY($2)`,
    [principalId, keys],
  );
  return rows;
}

/** Everything the caller's requests wrote to the history (each write appends an audit.data.modified). */
async function eventsBy(actorId: string) {
  const { rows } = await db.$client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM outbox WHERE payload::jsonb -> 'data' ->> 'actorId' = $1`,
    [actorId],
  );
  return rows[0]?.n;
}

describe("kept answers about a patient", () => {
  it("are a read of the patient's data each time they are replayed", async () => {
    const admin = await caller("admin");
    const key = randomUUID();
    const body = requestBodies.patient();
    const first = await post(admin, "/patients", body, { "Idempotency-Key": key });
    expect(first.status).toBe(201);
    const { id } = (await first.json()) as { id: string };
    expect(await replayAccesses(admin.userId)).toEqual([]);

    for (let retry = 0; retry < 2; retry++) {
      const replayed = await post(admin, "/patients", body, { "Idempotency-Key": key });
      expect(replayed.headers.get("idempotent-replayed")).toBe("true");
      expect(await replayed.json()).toMatchObject({ id, lastName: body.lastName });
    }
    expect(await replayAccesses(admin.userId)).toEqual([
      { patientId: id, resourceId: "/patients" },
      { patientId: id, resourceId: "/patients" },
    ]);
  });

  it("are all emptied by the patient's erasure, those that do not quote the id too; others are kept", async () => {
    const admin = await caller("admin");
    const [registration, message, provider] = [randomUUID(), randomUUID(), randomUUID()];
    const created = await post(admin, "/patients", requestBodies.patient(), {
      "Idempotency-Key": registration,
    });
    const { id } = (await created.json()) as { id: string };
    const email = await post(admin, "/notifications/email", requestBodies.email(id), {
      "Idempotency-Key": message,
    });
    expect(email.status).toBe(202);
    // The message request's answer ({notificationId, channel}) quotes nothing of the patient, not even the id.
    expect(await email.text()).not.toContain(id);
    const clinician = requestBodies.provider({ email: `${randomUUID()}@example.org` });
    expect((await post(admin, "/providers", clinician, { "Idempotency-Key": provider })).status).toBe(201);
    expect(await keptAnswers(admin.userId, [registration, message, provider])).toEqual(
      expect.arrayContaining([
        { key: registration, patientId: id, answer: true },
        { key: message, patientId: id, answer: true },
        { key: provider, patientId: null, answer: true },
      ]),
    );

    const erased = await post(admin, `/patients/${id.toUpperCase()}/erasure`);
    expect(erased.status).toBe(200);
    expect(await erased.json()).toMatchObject({ removed: { storedResponses: 2 } });
    expect(await keptAnswers(admin.userId, [registration, message, provider])).toEqual(
      expect.arrayContaining([
        { key: registration, patientId: id, answer: false },
        { key: message, patientId: id, answer: false },
        { key: provider, patientId: null, answer: true },
      ]),
    );
  });

  it("erased with the patient, answer a retry with 410 and do nothing again: no second registration", async () => {
    for (const role of ["admin", "patient"] as const) {
      const registrar = await caller(role);
      const admin = await caller("admin");
      const key = randomUUID();
      const body = requestBodies.patient();
      const created = await post(registrar, "/patients", body, { "Idempotency-Key": key });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      expect((await post(admin, `/patients/${id}/erasure`)).status).toBe(200);
      const written = await eventsBy(registrar.userId);

      const retried = await post(registrar, "/patients", body, { "Idempotency-Key": key });
      expect(retried.status, role).toBe(410);
      const problem = (await retried.json()) as { detail: string };
      expect(problem.detail).toContain("was erased with the patient whose data it held");
      expect(JSON.stringify(problem)).not.toContain(body.lastName);
      expect(await eventsBy(registrar.userId)).toBe(written);
      // The same key with another body is refused the same way: the erased request is not known any more.
      const other = await post(registrar, "/patients", requestBodies.patient(), { "Idempotency-Key": key });
      expect(other.status).toBe(410);
      expect(await eventsBy(registrar.userId)).toBe(written);
      expect(await keptAnswers(registrar.userId, [key])).toEqual([{ key, patientId: id, answer: false }]);
    }
  });

  it("are replayed only to a caller who reaches the patient now: a login moved away is refused, a deletion is a 404", async () => {
    const admin = await caller("admin");
    const [moved, deleted] = [await caller("patient"), await caller("patient")];
    const registrations = new Map<Caller, { key: string; body: unknown; id: string }>();
    for (const patient of [moved, deleted]) {
      const key = randomUUID();
      const body = requestBodies.patient();
      const first = await post(patient, "/patients", body, { "Idempotency-Key": key });
      expect(first.status).toBe(201);
      const { id } = (await first.json()) as { id: string };
      registrations.set(patient, { key, body, id });
      // Reached now: the retry is the first answer, recorded as a read.
      const replayed = await post(patient, "/patients", body, { "Idempotency-Key": key });
      expect(replayed.headers.get("idempotent-replayed")).toBe("true");
    }
    const movedRecord = registrations.get(moved) as { key: string; body: unknown; id: string };
    const deletedRecord = registrations.get(deleted) as { key: string; body: unknown; id: string };
    const other = randomUUID();
    const patched = await app.request(`/patients/${movedRecord.id}`, {
      method: "PATCH",
      headers: admin.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ userId: other }),
    });
    expect(patched.status).toBe(200);
    const removed = await app.request(`/patients/${deletedRecord.id}`, {
      method: "DELETE",
      headers: admin.headers(),
    });
    expect(removed.status).toBeLessThan(300);

    const refused = await post(moved, "/patients", movedRecord.body, { "Idempotency-Key": movedRecord.key });
    expect(refused.status).toBe(403);
    expect(await refused.text()).not.toContain(movedRecord.id);
    const gone = await post(deleted, "/patients", deletedRecord.body, {
      "Idempotency-Key": deletedRecord.key,
    });
    expect(gone.status).toBe(404);
    // Both answers are among the operation's published ones.
    const published = (await (await app.request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    expect(Object.keys(published.paths["/patients"]?.post?.responses ?? {})).toEqual(
      expect.arrayContaining(["403", "404"]),
    );

    // Each replay that was answered is one read in the history; the refused and the 404 are none.
    expect(await replayAccesses(moved.userId)).toEqual([
      { patientId: movedRecord.id, resourceId: "/patients" },
    ]);
    expect(await replayAccesses(deleted.userId)).toEqual([
      { patientId: deletedRecord.id, resourceId: "/patients" },
    ]);
    // The refusal is recorded as one, naming the login and the patient.
    const { rows: violations } = await db.$client.query<{ patientId: string | null }>(
      `SELECT patient_id::text AS "patientId" FROM outbox
        WHERE event_type = 'audit.compliance.violation' AND payload::jsonb -> 'data' ->> 'actorId' = $1`,
      [moved.userId],
    );
    expect(violations).toEqual([{ patientId: movedRecord.id }]);
  });
});

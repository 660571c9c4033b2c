// Idempotency-Key on the routes that change something without a POST: PATCH, PUT and DELETE take the key as
// POSTs do. A retry gets the first answer back (status, body and headers, a 204 too) with
// `Idempotent-Replayed: true` and writes nothing: no state, no outbox row but, when the kept body shows a
// patient's data, the audit.data.accessed that reading it is. The same key with another request is a 422, a
// malformed key a 400 naming the header, a kept answer erased with its patient a 410 (a document deletion's too:
// its reason may have quoted them). Retries that arrive at once make one change.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { type CareWorld, careWorld } from "../test/careWorld.ts";
import { testDatabase } from "../test/fixtures.ts";
import { eventsOf, stateDigest } from "../test/platformState.ts";
import { type Caller, caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

interface Sent {
  status: number;
  headers: Headers;
  text: string;
  correlationId: string;
}

async function send(
  user: Caller,
  method: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Sent> {
  const correlationId = randomUUID();
  const response = await app.request(path, {
    method,
    headers: user.headers({
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      "X-Correlation-Id": correlationId,
      ...headers,
    }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, text: await response.text(), correlationId };
}

/** What a request that writes nothing leaves as it was: the service tables, the outbox's rows and last position. */
async function writtenState(): Promise<string> {
  const outbox = await db.execute<{ rows: string; last: string | null }>(
    sql`SELECT count(*)::text AS rows, max(position)::text AS last FROM outbox`,
  );
  return JSON.stringify({ tables: await stateDigest(db), outbox: outbox.rows[0] });
}

async function outboxRows(): Promise<number> {
  const result = await db.execute<{ n: number }>(sql`SELECT count(*)::int AS n FROM outbox`);
  return result.rows[0]?.n ?? 0;
}

/** The headers an answer is made of, but for the ones each response has of its own. */
function ownHeaders(headers: Headers): Record<string, string> {
  return Object.fromEntries(
    [...headers].filter(([name]) => name !== "x-correlation-id" && name !== "idempotent-replayed"),
  );
}

interface WriteCase {
  route: string;
  method: string;
  path: (world: CareWorld) => string;
  body?: unknown;
  /** The same route, asked something else. */
  another: (world: CareWorld) => { path: string; body?: unknown };
  status: number;
  /** Whether the kept body shows the patient's data, so that its replay is a read of it. */
  showsPatientData: boolean;
}

const cases: WriteCase[] = [
  {
    route: "PATCH /patients/{id}",
    method: "PATCH",
    path: (world) => `/patients/${world.own.patientId}`,
    body: { phone: "+14155550100" },
    another: (world) => ({ path: `/patients/${world.own.patientId}`, body: { phone: "+14155550199" } }),
    status: 200,
    showsPatientData: true,
  },
  {
    route: "PUT /patients/{id}/consent",
    method: "PUT",
    path: (world) => `/patients/${world.own.patientId}/consent`,
    body: { marketing: true },
    another: (world) => ({ path: `/patients/${world.own.patientId}/consent`, body: { research: true } }),
    status: 200,
    showsPatientData: true,
  },
  {
    route: "DELETE /patients/{id}",
    method: "DELETE",
    path: (world) => `/patients/${world.own.patientId}`,
    another: (world) => ({ path: `/patients/${world.other.patientId}` }),
    status: 204,
    showsPatientData: false,
  },
  {
    route: "PATCH /providers/{id}",
    method: "PATCH",
    path: (world) => `/providers/${world.own.providerId}`,
    body: { specialty: "neurology" },
    another: (world) => ({ path: `/providers/${world.own.providerId}`, body: { specialty: "dermatology" } }),
    status: 200,
    showsPatientData: false,
  },
  {
    route: "DELETE /documents/{id}",
    method: "DELETE",
    path: (world) => `/documents/${world.own.documentId}`,
    body: { reason: "Uploaded to the wrong record" },
    another: (world) => ({ path: `/documents/${world.own.documentId}`, body: { reason: "A duplicate" } }),
    status: 204,
    showsPatientData: false,
  },
];

describe("Idempotency-Key on PATCH, PUT and DELETE", () => {
  it.each(cases)(
    "$route: a retry gets the first answer back, status, body and headers, and writes nothing",
    async ({ method, path, body, status, showsPatientData }) => {
      const world = await careWorld(db);
      const admin = await caller("admin");
      const key = { "Idempotency-Key": randomUUID() };
      const first = await send(admin, method, path(world), body, key);
      expect(first.status, first.text).toBe(status);
      expect(first.headers.get("idempotent-replayed")).toBeNull();
      expect((await eventsOf(db, first.correlationId)).length).toBeGreaterThan(0);

      const tablesBefore = await stateDigest(db);
      const rowsBefore = await outboxRows();
      const retry = await send(admin, method, path(world), body, key);
      expect(retry.status).toBe(status);
      expect(retry.headers.get("idempotent-replayed")).toBe("true");
      expect(retry.text).toBe(first.text);
      expect(ownHeaders(retry.headers)).toEqual(ownHeaders(first.headers));

      expect(await stateDigest(db)).toBe(tablesBefore);
      // Nothing done again: the only row a retry may leave is the audit record of the read it is.
      const written = await eventsOf(db, retry.correlationId);
      expect(written.map((event) => [event.type, event.data.resourceType])).toEqual(
        showsPatientData ? [["audit.data.accessed", "stored_response"]] : [],
      );
      expect(await outboxRows()).toBe(rowsBefore + written.length);
    },
  );

  it.each(cases)(
    "$route: the same key with another request is a 422 that writes nothing",
    async ({ method, path, body, status, another }) => {
      const world = await careWorld(db);
      const admin = await caller("admin");
      const key = { "Idempotency-Key": randomUUID() };
      expect((await send(admin, method, path(world), body, key)).status).toBe(status);

      const before = await writtenState();
      const other = another(world);
      const reused = await send(admin, method, other.path, other.body, key);
      expect(reused.status, reused.text).toBe(422);
      expect(reused.headers.get("content-type")).toBe("application/problem+json");
      expect(await writtenState()).toBe(before);
    },
  );

  it.each(cases)(
    "$route: a malformed key is a 400 naming the header, and writes nothing",
    async ({ method, path, body }) => {
      const world = await careWorld(db);
      const admin = await caller("admin");
      const before = await writtenState();
      const refused = await send(admin, method, path(world), body, { "Idempotency-Key": "a key" });
      expect(refused.status).toBe(400);
      expect((JSON.parse(refused.text) as { errors: unknown }).errors).toEqual([
        { field: "header.idempotency-key", message: expect.any(String) },
      ]);
      expect(await writtenState()).toBe(before);
    },
  );

  it("keeps a PATCH from undoing a change made between it and its retry", async () => {
    const world = await careWorld(db);
    const [admin, other] = await Promise.all([caller("admin"), caller("admin")]);
    const path = `/patients/${world.own.patientId}`;
    const key = { "Idempotency-Key": randomUUID() };
    const first = await send(admin, "PATCH", path, { phone: "+14155550100" }, key);
    expect(first.status).toBe(200);
    expect((await send(other, "PATCH", path, { phone: "+14155550111" })).status).toBe(200);

    const retry = await send(admin, "PATCH", path, { phone: "+14155550100" }, key);
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.text).toBe(first.text);
    const stored = await db.execute<{ phone: string }>(
      sql`SELECT phone FROM patients WHERE id = ${world.own.patientId}`,
    );
    expect(stored.rows[0]?.phone).toBe("+14155550111");
  });

  it("records a replay's read under the answer's canonical path, whatever case the retry spells its id in", async () => {
    const world = await careWorld(db);
    const admin = await caller("admin");
    const id = world.own.patientId;
    const key = { "Idempotency-Key": randomUUID() };
    expect((await send(admin, "PATCH", `/patients/${id}`, { phone: "+14155550100" }, key)).status).toBe(200);

    const retries = [id.toUpperCase(), `%${id.charCodeAt(0).toString(16)}${id.slice(1)}`];
    for (const spelled of retries) {
      const retry = await send(admin, "PATCH", `/patients/${spelled}`, { phone: "+14155550100" }, key);
      expect(retry.headers.get("idempotent-replayed"), spelled).toBe("true");
      const written = await eventsOf(db, retry.correlationId);
      expect(
        written.map((event) => [event.type, event.data.resourceType, event.data.resourceId]),
        spelled,
      ).toEqual([["audit.data.accessed", "stored_response", `/patients/${id}`]]);
    }
  });

  it("takes a DELETE without a body and one with its default reason for the same request", async () => {
    const world = await careWorld(db);
    const admin = await caller("admin");
    const path = `/documents/${world.own.documentId}`;
    const key = { "Idempotency-Key": randomUUID() };
    expect((await send(admin, "DELETE", path, undefined, key)).status).toBe(204);
    const before = await writtenState();
    const retry = await send(admin, "DELETE", path, { reason: null }, key);
    expect(retry.status).toBe(204);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await writtenState()).toBe(before);
  });

  // A document's deletion answers nothing about the patient, but its reason may have quoted them.
  it.each([
    {
      route: "PATCH /patients/{id}",
      method: "PATCH",
      path: (world: CareWorld) => `/patients/${world.own.patientId}`,
      body: { phone: "+14155550100" },
    },
    {
      route: "DELETE /documents/{id}",
      method: "DELETE",
      path: (world: CareWorld) => `/documents/${world.own.documentId}`,
      body: { reason: "Ada asked, +14155550100" },
    },
  ])(
    "$route: a retry after the patient's erasure is a 410 that writes nothing, the kept answer gone",
    async ({ method, path, body }) => {
      const world = await careWorld(db);
      const admin = await caller("admin");
      const key = randomUUID();
      expect((await send(admin, method, path(world), body, { "Idempotency-Key": key })).status).toBeLessThan(
        300,
      );
      expect((await send(admin, "POST", `/patients/${world.own.patientId}/erasure`, undefined)).status).toBe(
        200,
      );
      const kept = await db.execute<{ fingerprint: string; body: string | null }>(
        sql`SELECT request_fingerprint AS fingerprint, response_body AS body FROM idempotency_keys WHERE principal_id = ${admin.userId} AND key = ${key}`,
      );
      expect(kept.rows).toEqual([{ fingerprint: "erased-with-patient", body: null }]);

      const before = await writtenState();
      const retry = await send(admin, method, path(world), body, { "Idempotency-Key": key });
      expect(retry.status).toBe(410);
      expect(retry.text).not.toContain("+14155550100");
      expect(await writtenState()).toBe(before);
    },
  );

  it.each([
    {
      route: "DELETE /patients/{id}",
      method: "DELETE",
      path: (world: CareWorld) => `/patients/${world.own.patientId}`,
      body: undefined,
      event: "patient.deleted",
    },
    {
      route: "PATCH /providers/{id}",
      method: "PATCH",
      path: (world: CareWorld) => `/providers/${world.own.providerId}`,
      body: { specialty: "neurology" },
      event: "audit.data.modified",
    },
  ])(
    "$route: ten retries at once are one change, each answered as the first",
    async ({ method, path, body, event }) => {
      const world = await careWorld(db);
      const admin = await caller("admin");
      const key = { "Idempotency-Key": randomUUID() };
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => send(admin, method, path(world), body, key)),
      );
      expect(new Set(answers.map((answer) => `${answer.status} ${answer.text}`)).size).toBe(1);
      expect(answers[0]?.status).toBeLessThan(300);
      expect(answers.filter((answer) => answer.headers.get("idempotent-replayed") === null)).toHaveLength(1);
      const written = await Promise.all(answers.map((answer) => eventsOf(db, answer.correlationId)));
      expect(written.flat().filter((row) => row.type === event)).toHaveLength(1);
    },
  );
});

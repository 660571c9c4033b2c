// Idempotency-Key on POSTs: a retry gets the first response back and changes nothing (one row, one set of
// events); the same key for another request is a 422; keys are the caller's own; a request that failed is not
// remembered, so its retry runs; concurrent retries of one booking book one appointment.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { aiModels } from "../db/schema.ts";
import { careWorld } from "../test/careWorld.ts";
import { testDatabase } from "../test/fixtures.ts";
import { stateDigest } from "../test/platformState.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../test/tokens.ts";
import { forgetExpiredKeys } from "./http/idempotencyKeys.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const post = (user: Caller, path: string, body: unknown, headers: Record<string, string> = {}) =>
  app.request(path, {
    method: "POST",
    headers: user.headers({ "Content-Type": "application/json", ...headers }),
    body: JSON.stringify(body),
  });

async function eventCount(type: string, field: string, value: string): Promise<number> {
  const result = await db.execute<{ count: number }>(
    sql`SELECT count(*)::int AS count FROM outbox WHERE event_type = ${type} AND payload::jsonb -> 'data' ->> ${field} = ${value}`,
  );
  return result.rows[0]?.count ?? 0;
}

describe("Idempotency-Key", () => {
  it("answers a retry with the first response, and writes one row and one set of events", async () => {
    const admin = await caller("admin");
    const key = randomUUID();
    const body = requestBodies.patient();
    const first = await post(admin, "/patients", body, { "Idempotency-Key": key });
    expect(first.status).toBe(201);
    const created = (await first.json()) as { id: string };

    // The body's keys in another order are the same request.
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const retry = await post(admin, "/patients", reordered, { "Idempotency-Key": key });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.headers.get("location")).toBe(`/patients/${created.id}`);
    expect(await retry.json()).toEqual(created);

    const rows = await db.execute(sql`SELECT 1 FROM patients WHERE last_name = ${body.lastName}`);
    expect(rows.rowCount).toBe(1);
    expect(await eventCount("patient.created", "patientId", created.id)).toBe(1);
    expect(await eventCount("audit.data.modified", "resourceId", created.id)).toBe(1);
  });

  it("refuses the same key with a different body, or on another route, with a 422 that writes nothing", async () => {
    const admin = await caller("admin");
    const key = randomUUID();
    const body = requestBodies.patient();
    expect((await post(admin, "/patients", body, { "Idempotency-Key": key })).status).toBe(201);

    const changed = { ...body, lastName: `${body.lastName}-changed` };
    const reused = await post(admin, "/patients", changed, { "Idempotency-Key": key });
    expect(reused.status).toBe(422);
    expect(reused.headers.get("content-type")).toBe("application/problem+json");
    const elsewhere = await post(admin, "/providers", requestBodies.provider(), { "Idempotency-Key": key });
    expect(elsewhere.status).toBe(422);

    const rows = await db.execute(sql`SELECT 1 FROM patients WHERE last_name = ${changed.lastName}`);
    expect(rows.rowCount).toBe(0);
  });

  it("takes a request spelled differently, as the route reads it, for the same request: ids in any case, defaults sent", async () => {
    const world = await careWorld(db);
    const admin = await caller("admin");
    const key = randomUUID();
    const booking = requestBodies.booking(world.own.patientId, world.own.providerId);
    const { notes: _notes, ...withoutNotes } = booking;
    const first = await post(admin, "/appointments", withoutNotes, { "Idempotency-Key": key });
    expect(first.status).toBe(201);
    const { id } = (await first.json()) as { id: string };
    // The ids upper-cased, the default of notes (null) sent explicitly.
    const respelled = {
      ...booking,
      notes: null,
      patientId: booking.patientId.toUpperCase(),
      providerId: booking.providerId.toUpperCase(),
    };
    const retry = await post(admin, "/appointments", respelled, { "Idempotency-Key": key });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(((await retry.json()) as { id: string }).id).toBe(id);

    const cancelKey = randomUUID();
    const reason = requestBodies.cancellation();
    const cancel = (appointmentId: string) =>
      post(admin, `/appointments/${appointmentId}/cancel`, reason, { "Idempotency-Key": cancelKey });
    expect((await cancel(id.toUpperCase())).status).toBe(200);
    const again = await cancel(id);
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    // Another appointment's path is another request.
    expect((await cancel(randomUUID())).status).toBe(422);
  });

  it("takes any other difference for another request: an instant spelt otherwise is a 422 that writes nothing", async () => {
    const world = await careWorld(db);
    const admin = await caller("admin");
    const key = randomUUID();
    const booking = requestBodies.booking(world.own.patientId, world.own.providerId);
    expect(booking.scheduledAt).toMatch(/:00\.000Z$/);
    expect((await post(admin, "/appointments", booking, { "Idempotency-Key": key })).status).toBe(201);
    const respelled = { ...booking, scheduledAt: booking.scheduledAt.replace(".000Z", "Z") };
    expect((await post(admin, "/appointments", respelled, { "Idempotency-Key": key })).status).toBe(422);
    const booked = await db.execute(
      sql`SELECT 1 FROM appointments WHERE patient_id = ${world.own.patientId} AND scheduled_at = ${booking.scheduledAt}`,
    );
    expect(booked.rowCount).toBe(1);
  });

  it("forgets a key after a day: the same key then names a new request, and the sweeper removes old keys", async () => {
    const admin = await caller("admin");
    const key = randomUUID();
    const body = requestBodies.patient();
    const first = (await (await post(admin, "/patients", body, { "Idempotency-Key": key })).json()) as {
      id: string;
    };
    const age = (hours: number) =>
      db.execute(
        sql`UPDATE idempotency_keys SET created_at = now() - make_interval(hours => ${hours}) WHERE key = ${key}`,
      );
    await age(23);
    const changed = { ...body, lastName: `${body.lastName}-later` };
    expect((await post(admin, "/patients", changed, { "Idempotency-Key": key })).status).toBe(422);

    await age(25);
    const later = await post(admin, "/patients", changed, { "Idempotency-Key": key });
    expect(later.status).toBe(201);
    expect(later.headers.get("idempotent-replayed")).toBeNull();
    expect(((await later.json()) as { id: string }).id).not.toBe(first.id);

    await age(25);
    const fresh = randomUUID();
    await post(admin, "/providers", requestBodies.provider(), { "Idempotency-Key": fresh });
    expect(await forgetExpiredKeys(db)).toBeGreaterThanOrEqual(1);
    const left = await db.execute<{ key: string }>(
      sql`SELECT key FROM idempotency_keys WHERE key IN (${key}, ${fresh})`,
    );
    expect(left.rows.map((row) => row.key)).toEqual([fresh]);
  });

  it("keeps keys per caller: another caller's identical key is a request of its own", async () => {
    const [first, second] = await Promise.all([caller("admin"), caller("admin")]);
    const key = randomUUID();
    const body = requestBodies.provider();
    const a = (await (await post(first, "/providers", body, { "Idempotency-Key": key })).json()) as {
      id: string;
    };
    const b = (await (await post(second, "/providers", body, { "Idempotency-Key": key })).json()) as {
      id: string;
    };
    expect(a.id).not.toBe(b.id);
  });

  it("keeps keys per role too: the same login as a patient does not get what it was answered as an admin", async () => {
    const login = randomUUID();
    const [asAdmin, asPatient] = await Promise.all([caller("admin", login), caller("patient", login)]);
    const key = randomUUID();
    const body = requestBodies.patient();
    const created = await post(asAdmin, "/patients", body, { "Idempotency-Key": key });
    expect(created.status).toBe(201);
    const before = await stateDigest(db);
    const replay = await post(asPatient, "/patients", body, { "Idempotency-Key": key });
    expect(replay.status).toBe(422);
    expect(replay.headers.get("idempotent-replayed")).toBeNull();
    expect(JSON.stringify(await replay.json())).not.toContain(body.email);
    expect(await stateDigest(db)).toBe(before);
  });

  it("does not remember a request that failed: its retry runs", async () => {
    const world = await careWorld(db);
    const service = await caller("service");
    const key = randomUUID();
    const modelId = randomUUID();
    const body = requestBodies.prediction(modelId, world.own.patientId);
    expect((await post(service, "/ai/predictions", body, { "Idempotency-Key": key })).status).toBe(404);

    await db.insert(aiModels).values({
      id: modelId,
      name: `model-${modelId}`,
      version: "2.1.0",
      algorithm: "gradient-boosted trees",
      trainedAt: new Date(),
      datasetSize: 10,
      trainingMetrics: {},
    });
    const retry = await post(service, "/ai/predictions", body, { "Idempotency-Key": key });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
  });

  it("books one appointment when ten retries of one booking arrive at once", async () => {
    const world = await careWorld(db);
    const patient = await caller("patient", world.own.patientUserId);
    const key = randomUUID();
    const body = requestBodies.booking(world.own.patientId, world.own.providerId, 5 * 24 * 60 * 60 * 1000);
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => post(patient, "/appointments", body, { "Idempotency-Key": key })),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(10).fill(201));
    const ids = new Set(
      await Promise.all(responses.map(async (r) => ((await r.json()) as { id: string }).id)),
    );
    expect(ids.size).toBe(1);
    const [id] = ids as Set<string>;
    expect(await eventCount("appointment.booked", "appointmentId", id as string)).toBe(1);
    const rows = await db.execute(
      sql`SELECT 1 FROM appointments WHERE patient_id = ${world.own.patientId} AND scheduled_at = ${body.scheduledAt}`,
    );
    expect(rows.rowCount).toBe(1);
  });

  it("answers a retry as it was once the time the request named has passed; a new request for that time is a 400", async () => {
    const world = await careWorld(db);
    const admin = await caller("admin");
    const document = await post(admin, "/documents", requestBodies.document(world.own.patientId));
    const { id: documentId } = (await document.json()) as { id: string };
    // Far enough ahead that the first requests are done before it on a busy machine (1.5 s was not always),
    // and waited for below until it has passed.
    const soon = new Date(Date.now() + 5_000).toISOString();
    const booking = {
      ...requestBodies.booking(world.own.patientId, world.own.providerId),
      scheduledAt: soon,
    };
    const consent = { ...requestBodies.consent(), expiresAt: soon };
    const requests = [
      ["/appointments", booking, "body.scheduledAt"],
      [`/documents/${documentId}/consents`, consent, "body.expiresAt"],
    ] as const;
    const keys = requests.map(() => ({ "Idempotency-Key": randomUUID() }));
    const firsts = await Promise.all(
      requests.map(([path, body], index) => post(admin, path, body, keys[index])),
    );
    expect(firsts.map((response) => response.status)).toEqual([201, 201]);
    const answers = await Promise.all(firsts.map((response) => response.json()));

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(soon) - Date.now()) + 100));
    for (const [index, [path, body, field]] of requests.entries()) {
      const retry = await post(admin, path, body, keys[index]);
      expect(retry.status, path).toBe(201);
      expect(retry.headers.get("idempotent-replayed"), path).toBe("true");
      expect(await retry.json(), path).toEqual(answers[index]);
      const before = await stateDigest(db);
      const late = await post(admin, path, body, { "Idempotency-Key": randomUUID() });
      expect(late.status, path).toBe(400);
      expect(((await late.json()) as { errors: unknown }).errors, path).toEqual([
        { field, message: "must be in the future" },
      ]);
      expect(await stateDigest(db), path).toBe(before);
    }
  });

  it("refuses a malformed key with a 400 naming the header", async () => {
    const admin = await caller("admin");
    const response = await post(admin, "/providers", requestBodies.provider(), { "Idempotency-Key": "a b" });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { errors: Array<{ field: string }> }).errors[0]?.field).toBe(
      "header.idempotency-key",
    );
  });
});

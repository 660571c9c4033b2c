// Deleting a patient cancels their booked appointments in the same transaction, each with its
// appointment.cancelled: left booked, they were still reminded of, held their providers' slots, and could not
// be cancelled any more (every route refuses a deleted patient's records).
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld } from "../../test/careWorld.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { eventsOf } from "../../test/platformState.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { caller, testPlatform } from "../../test/tokens.ts";
import { CANCELLED_WITH_PATIENT } from "./cancelOnDeletion.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const HOUR_MS = 3_600_000;

async function send(method: string, path: string, body?: unknown, correlationId = randomUUID()) {
  const admin = await caller("admin");
  return app.request(path, {
    method,
    headers: admin.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describe("DELETE /patients/{id}", () => {
  it("cancels the patient's booked appointments with it, freeing their slots; completed ones stay", async () => {
    const world = await careWorld(db);
    const other = await careWorld(db);
    const soon = requestBodies.booking(world.own.patientId, world.own.providerId, 3 * HOUR_MS);
    const later = requestBodies.booking(world.own.patientId, world.own.providerId, 30 * HOUR_MS);
    // The later one booked first: the cancellations follow the appointments' times, not the table's order.
    const bookedLater = await send("POST", "/appointments", later);
    const booked = [await send("POST", "/appointments", soon), bookedLater];
    expect(booked.map((response) => response.status)).toEqual([201, 201]);
    const ids = await Promise.all(
      booked.map(async (response) => ((await response.json()) as { id: string }).id),
    );
    const completed = await send(
      "POST",
      "/appointments",
      requestBodies.booking(world.own.patientId, world.own.providerId, 60 * HOUR_MS),
    );
    const completedId = ((await completed.json()) as { id: string }).id;
    await db.execute(
      sql`UPDATE appointments SET status = 'COMPLETED', completed_at = now() WHERE id = ${completedId}`,
    );

    const correlationId = randomUUID();
    expect((await send("DELETE", `/patients/${world.own.patientId}`, undefined, correlationId)).status).toBe(
      204,
    );

    const rows = await db.execute<{ id: string; status: string; reason: string | null; by: string | null }>(
      sql`SELECT id, status, cancellation_reason AS reason, cancelled_by AS by FROM appointments
           WHERE id IN (${ids[0]}, ${ids[1]}, ${completedId}) ORDER BY scheduled_at`,
    );
    expect(rows.rows).toEqual([
      { id: ids[0], status: "CANCELLED", reason: CANCELLED_WITH_PATIENT, by: "STAFF" },
      { id: ids[1], status: "CANCELLED", reason: CANCELLED_WITH_PATIENT, by: "STAFF" },
      { id: completedId, status: "COMPLETED", reason: null, by: null },
    ]);
    const events = await eventsOf(db, correlationId);
    // careWorld booked one of its own too: every booked appointment of the patient is cancelled, earliest first.
    const cancelled = events
      .filter((event) => event.type === "appointment.cancelled")
      .map((event) => event.data);
    expect(cancelled.filter((data) => ids.includes(data.appointmentId as string))).toEqual(
      ids.map((appointmentId) => ({
        appointmentId,
        patientId: world.own.patientId,
        cancelledAt: expect.any(String),
        cancelledBy: "STAFF",
        // The reason is free text, so sealed under the patient's key like every reason.
        reason: expect.stringMatching(/^enc:v1:/),
      })),
    );
    expect(cancelled.map((data) => data.appointmentId)).not.toContain(completedId);
    expect(events.map((event) => event.type)).toContain("patient.deleted");
    const stillBooked = await db.execute(
      sql`SELECT 1 FROM appointments WHERE patient_id = ${world.own.patientId} AND status = 'BOOKED'`,
    );
    expect(stillBooked.rowCount).toBe(0);

    // The provider's slot is free for another patient.
    const rebooked = await send("POST", "/appointments", { ...soon, patientId: other.own.patientId });
    expect(rebooked.status).toBe(201);
  });
});

describe("POST /patients/{id}/erasure", () => {
  it("cancels the patient's booked appointments, each with its appointment.cancelled, before removing them", async () => {
    const world = await careWorld(db);
    const slot = requestBodies.booking(world.own.patientId, world.own.providerId, 50 * HOUR_MS);
    const booked = await send("POST", "/appointments", slot);
    expect(booked.status).toBe(201);
    const { id } = (await booked.json()) as { id: string };

    const correlationId = randomUUID();
    const erased = await send("POST", `/patients/${world.own.patientId}/erasure`, undefined, correlationId);
    expect(erased.status).toBe(200);

    const events = await eventsOf(db, correlationId);
    const cancelled = events
      .filter((event) => event.type === "appointment.cancelled")
      .map((event) => event.data);
    expect(cancelled.filter((data) => data.appointmentId === id)).toEqual([
      {
        appointmentId: id,
        patientId: world.own.patientId,
        cancelledAt: expect.any(String),
        cancelledBy: "STAFF",
        reason: expect.stringMatching(/^enc:v1:/),
      },
    ]);
    // Before the erasure's own record: a consumer learns of the cancellation, then of the erasure.
    const types = events.map((event) => event.type);
    expect(types.lastIndexOf("appointment.cancelled")).toBeLessThan(types.indexOf("patient.deleted"));
    const left = await db.execute(sql`SELECT 1 FROM appointments WHERE patient_id = ${world.own.patientId}`);
    expect(left.rowCount).toBe(0);
    const other = await careWorld(db);
    expect((await send("POST", "/appointments", { ...slot, patientId: other.own.patientId })).status).toBe(
      201,
    );
  });
});

// Booking rules that Postgres enforces: a provider's live appointments never overlap, even when the
// bookings race (exactly one of them wins); adjacent slots, other providers and cancelled slots are free;
// a time in the past is a 400 and an unknown patient or provider a 404, with nothing written.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld } from "../../test/careWorld.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { eventsOf } from "../../test/platformState.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const MINUTE_MS = 60_000;
const SLOT_BASE = 12 * 24 * 60 * MINUTE_MS;

async function book(body: Record<string, unknown>, correlationId = randomUUID()) {
  const admin = await caller("admin");
  return app.request("/appointments", {
    method: "POST",
    headers: admin.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
    body: JSON.stringify(body),
  });
}

async function liveAppointmentsOf(providerId: string): Promise<number> {
  const result = await db.execute(
    sql`SELECT 1 FROM appointments WHERE provider_id = ${providerId} AND status <> 'CANCELLED'`,
  );
  return result.rowCount ?? 0;
}

describe("booking a provider's slot", () => {
  it("lets exactly one of eight concurrent overlapping bookings win; the others are 409 and write nothing", async () => {
    const world = await careWorld(db);
    const patients = await Promise.all(Array.from({ length: 8 }, () => careWorld(db)));
    const correlationIds = patients.map(() => randomUUID());
    // Start times spread over 21 minutes, 30 minutes long each: every pair overlaps.
    const responses = await Promise.all(
      patients.map((other, index) =>
        book(
          requestBodies.booking(other.own.patientId, world.own.providerId, SLOT_BASE + index * 3 * MINUTE_MS),
          correlationIds[index],
        ),
      ),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    // The provider's slot from careWorld plus the one winner.
    expect(await liveAppointmentsOf(world.own.providerId)).toBe(2);
    for (const [index, response] of responses.entries()) {
      const events = (await eventsOf(db, correlationIds[index] as string)).map((event) => event.type);
      expect(events).toEqual(response.status === 201 ? ["appointment.booked", "audit.data.modified"] : []);
    }
  });

  it("allows back-to-back slots and other providers' slots, and frees a cancelled slot", async () => {
    const world = await careWorld(db);
    const first = requestBodies.booking(world.own.patientId, world.own.providerId, SLOT_BASE);
    expect((await book(first)).status).toBe(201);

    const adjacent = requestBodies.booking(
      world.own.patientId,
      world.own.providerId,
      SLOT_BASE + 30 * MINUTE_MS,
    );
    expect((await book(adjacent)).status).toBe(201);
    const overlapping = requestBodies.booking(
      world.other.patientId,
      world.own.providerId,
      SLOT_BASE + 29 * MINUTE_MS,
    );
    expect((await book(overlapping)).status).toBe(409);
    const otherProvider = requestBodies.booking(world.other.patientId, world.other.providerId, SLOT_BASE);
    expect((await book(otherProvider)).status).toBe(201);

    const taken = (await (
      await book(
        requestBodies.booking(world.own.patientId, world.own.providerId, SLOT_BASE + 2 * 60 * MINUTE_MS),
      )
    ).json()) as { id: string };
    const admin = await caller("admin");
    const cancelled = await app.request(`/appointments/${taken.id}/cancel`, {
      method: "POST",
      headers: admin.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(requestBodies.cancellation()),
    });
    expect(cancelled.status).toBe(200);
    const again = requestBodies.booking(
      world.other.patientId,
      world.own.providerId,
      SLOT_BASE + 2 * 60 * MINUTE_MS,
    );
    expect((await book(again)).status).toBe(201);
  });

  it("keeps a patient at one visit at a time, whichever providers they book, even when the bookings race", async () => {
    const world = await careWorld(db);
    const providers = await Promise.all(Array.from({ length: 6 }, () => careWorld(db)));
    const correlationIds = providers.map(() => randomUUID());
    // Six providers, start times 5 minutes apart, 30 minutes each: every pair overlaps for the one patient.
    const responses = await Promise.all(
      providers.map((other, index) =>
        book(
          requestBodies.booking(world.own.patientId, other.own.providerId, SLOT_BASE + index * 5 * MINUTE_MS),
          correlationIds[index],
        ),
      ),
    );
    expect(responses.map((response) => response.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    for (const [index, response] of responses.entries()) {
      const events = (await eventsOf(db, correlationIds[index] as string)).map((event) => event.type);
      if (response.status === 201) {
        expect(events).toEqual(["appointment.booked", "audit.data.modified"]);
      } else {
        expect(((await response.json()) as { detail: string }).detail).toBe(
          "The patient already has an appointment overlapping that time; choose another time.",
        );
        expect(events).toEqual([]);
      }
    }
    const { rows } = await db.$client.query<{ live: number }>(
      "SELECT count(*)::int AS live FROM appointments WHERE patient_id = $1 AND status = 'BOOKED' AND scheduled_at > now()",
      [world.own.patientId],
    );
    expect(rows[0]?.live).toBe(1);

    // Right after it, with another provider, is free; so is the time of a cancelled visit.
    const winner = (await (responses.find((response) => response.status === 201) as Response).json()) as {
      id: string;
      scheduledAt: string;
    };
    const after = new Date(Date.parse(winner.scheduledAt) + 30 * MINUTE_MS).toISOString();
    expect(
      (
        await book({
          ...requestBodies.booking(world.own.patientId, world.own.providerId),
          scheduledAt: after,
        })
      ).status,
    ).toBe(201);
    const admin = await caller("admin");
    const cancelled = await app.request(`/appointments/${winner.id}/cancel`, {
      method: "POST",
      headers: admin.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(requestBodies.cancellation()),
    });
    expect(cancelled.status).toBe(200);
    expect(
      (
        await book({
          ...requestBodies.booking(world.own.patientId, world.other.providerId),
          scheduledAt: winner.scheduledAt,
        })
      ).status,
    ).toBe(201);
  });

  it("refuses a time in the past (400) and an unknown patient or provider (404), writing nothing", async () => {
    const world = await careWorld(db);
    const past = await book(
      requestBodies.booking(world.own.patientId, world.own.providerId, -60 * MINUTE_MS),
    );
    expect(past.status).toBe(400);
    expect(((await past.json()) as { errors: Array<{ field: string; message: string }> }).errors).toEqual([
      { field: "body.scheduledAt", message: "must be in the future" },
    ]);
    // An end past 9999-12-31 no timestamp column can hold: refused by name, not by the database.
    const endless = await book({
      ...requestBodies.booking(world.own.patientId, world.own.providerId),
      scheduledAt: "9999-12-31T23:59:59Z",
      durationMinutes: 480,
    });
    expect(endless.status).toBe(400);
    expect(((await endless.json()) as { errors: unknown }).errors).toEqual([
      { field: "body.scheduledAt", message: "the appointment must end within the year 9999" },
    ]);

    for (const body of [
      requestBodies.booking(randomUUID(), world.own.providerId),
      requestBodies.booking(world.own.patientId, randomUUID()),
    ]) {
      const correlationId = randomUUID();
      const response = await book(body, correlationId);
      expect(response.status).toBe(404);
      expect(await eventsOf(db, correlationId)).toEqual([]);
    }
    expect(await liveAppointmentsOf(world.own.providerId)).toBe(1);
  });
});

describe("completing an appointment", () => {
  async function complete(appointmentId: string, providerLogin: string, correlationId = randomUUID()) {
    const provider = await caller("provider", providerLogin);
    return app.request(`/appointments/${appointmentId}/complete`, {
      method: "POST",
      headers: provider.headers({ "X-Correlation-Id": correlationId }),
    });
  }

  const statusOf = async (id: string) =>
    (await db.execute<{ status: string }>(sql`SELECT status FROM appointments WHERE id = ${id}`)).rows[0]
      ?.status;

  it("waits for the visit to begin: next week's is a 409 that writes nothing; the one starting now is taken", async () => {
    const world = await careWorld(db);
    const { patientId, providerId, providerUserId } = world.own;
    const nextWeek = (await (
      await book(requestBodies.booking(patientId, providerId, 7 * 24 * 60 * MINUTE_MS))
    ).json()) as {
      id: string;
      scheduledAt: string;
    };
    const correlationId = randomUUID();
    const early = await complete(nextWeek.id, providerUserId, correlationId);
    expect(early.status).toBe(409);
    expect(((await early.json()) as { detail: string }).detail).toBe(
      `The appointment starts at ${nextWeek.scheduledAt}; it can be completed once it has begun.`,
    );
    expect(await eventsOf(db, correlationId)).toEqual([]);
    expect(await statusOf(nextWeek.id)).toBe("BOOKED");

    // Starting within the minute allowed for clocks, and started already (careWorld's, half an hour ago or more).
    const soon = (await (
      await book(requestBodies.booking(patientId, providerId, 2 * 24 * 60 * MINUTE_MS))
    ).json()) as {
      id: string;
    };
    await db.execute(
      sql`UPDATE appointments SET scheduled_at = now() + interval '50 seconds',
            ends_at = now() + interval '50 seconds' + make_interval(mins => duration_minutes) WHERE id = ${soon.id}`,
    );
    for (const id of [soon.id, world.own.appointmentId]) {
      const taken = randomUUID();
      expect((await complete(id, providerUserId, taken)).status).toBe(200);
      expect((await eventsOf(db, taken)).map((event) => event.type)).toEqual([
        "appointment.completed",
        "audit.data.modified",
      ]);
      expect(await statusOf(id)).toBe("COMPLETED");
    }
  });
});

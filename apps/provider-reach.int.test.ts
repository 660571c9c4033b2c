// A provider reaches the patients with a booked or completed appointment with them. A booking cancelled before
// any visit ends the relationship: the provider it was with reads and changes nothing of the patient's any
// more, books nothing for them, and does not read that appointment. Found by a probe: a provider kept reading
// and changing the contact details of a patient who had cancelled their only appointment with them.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld } from "../test/careWorld.ts";
import { testDatabase } from "../test/fixtures.ts";
import { eventsOf } from "../test/platformState.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

function send(who: Caller, method: string, path: string, body?: unknown, correlationId = randomUUID()) {
  return app.request(path, {
    method,
    headers: who.headers({
      "X-Correlation-Id": correlationId,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe("a provider's reach", () => {
  it("ends with a booking cancelled before any visit, and lasts after a visit that took place", async () => {
    const world = await careWorld(db);
    const { patientId, patientUserId } = world.own;
    // A provider of another world: no appointment with this patient yet.
    const stranger = (await careWorld(db)).own;
    const [admin, patient, provider] = [
      await caller("admin"),
      await caller("patient", patientUserId),
      await caller("provider", stranger.providerUserId),
    ];
    expect((await send(provider, "GET", `/patients/${patientId}`)).status).toBe(403);

    const booked = await send(
      admin,
      "POST",
      "/appointments",
      requestBodies.booking(patientId, stranger.providerId),
    );
    expect(booked.status).toBe(201);
    const appointmentId = ((await booked.json()) as { id: string }).id;
    expect((await send(provider, "GET", `/patients/${patientId}`)).status).toBe(200);

    const cancelled = await send(
      patient,
      "POST",
      `/appointments/${appointmentId}/cancel`,
      requestBodies.cancellation(),
    );
    expect(cancelled.status).toBe(200);
    const refused = [
      ["GET", `/patients/${patientId}`, undefined],
      ["PATCH", `/patients/${patientId}`, { phone: "+19999999999" }],
      ["GET", `/appointments/${appointmentId}`, undefined],
      ["POST", "/appointments", requestBodies.booking(patientId, stranger.providerId, 20 * 24 * 3_600_000)],
    ] as const;
    for (const [method, path, body] of refused) {
      const correlationId = randomUUID();
      const response = await send(provider, method, path, body, correlationId);
      expect(response.status, `${method} ${path}`).toBe(403);
      // Nothing but the refusal itself is recorded.
      expect((await eventsOf(db, correlationId)).map((event) => event.type)).toEqual([
        "audit.compliance.violation",
      ]);
    }
    const { rows } = await db.$client.query<{ phone: string }>("SELECT phone FROM patients WHERE id = $1", [
      patientId,
    ]);
    expect(rows[0]?.phone).not.toBe("+19999999999");

    // The world's own provider completes the visit that has begun: after it, the patient is still theirs.
    const ownProvider = await caller("provider", world.own.providerUserId);
    expect(
      (await send(ownProvider, "POST", `/appointments/${world.own.appointmentId}/complete`)).status,
    ).toBe(200);
    expect((await send(ownProvider, "GET", `/patients/${patientId}`)).status).toBe(200);
  });
});

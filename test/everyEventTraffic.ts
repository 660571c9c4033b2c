// Requests to the running platform that together cause every event type a request can cause, and the
// reminder scheduler's run for the one no request causes: what the platform-events and published-events
// tests drive, so that both see the same traffic.
import { sql } from "drizzle-orm";
import { expect } from "vitest";
import { sendDueReminders } from "../apps/appointment/reminders.ts";
import type { Database } from "../db/client.ts";
import { testMasterKeys } from "./fixtures.ts";
import { requestBodies } from "./serviceRequests.ts";
import { type Caller, caller } from "./tokens.ts";

/** Sends one request as a caller; the test decides the headers it adds (correlation id, trace). */
export type Call = (
  by: Caller,
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: unknown }>;

export interface EveryEventTraffic {
  patientId: string;
  /** The appointment booked two hours ahead, whose reminder the scheduler sent. */
  remindedAppointmentId: string;
  callers: { admin: Caller; patient: Caller; provider: Caller; service: Caller; auditor: Caller };
}

/** `patient`: the patient who signs up, when the test must know their login beforehand. */
export async function causeEveryEvent(
  call: Call,
  db: Database,
  options: { patient?: Caller } = {},
): Promise<EveryEventTraffic> {
  const [admin, patient, provider, service, auditor] = await Promise.all([
    caller("admin"),
    options.patient ?? caller("patient"),
    caller("provider"),
    caller("service"),
    caller("auditor"),
  ]);
  // biome-ignore lint/suspicious/noExplicitAny: answers are read by field, checked by status
  const ok = async (promise: ReturnType<Call>, status: number): Promise<any> => {
    const response = await promise;
    expect(response.status, JSON.stringify(response.body)).toBe(status);
    return response.body;
  };

  const doctor = await ok(
    call(admin, "POST", "/providers", requestBodies.provider({ userId: provider.userId })),
    201,
  );
  const me = await ok(call(patient, "POST", "/patients", requestBodies.patient()), 201);
  await ok(call(patient, "PATCH", `/patients/${me.id}`, { phone: "+442071838750" }), 200);
  await ok(call(patient, "PUT", `/patients/${me.id}/consent`, { research: true }), 200);
  const soon = await ok(
    call(patient, "POST", "/appointments", requestBodies.booking(me.id, doctor.id, 2 * 60 * 60 * 1000)),
    201,
  );
  const later = await ok(
    call(patient, "POST", "/appointments", requestBodies.booking(me.id, doctor.id, 3 * 24 * 60 * 60 * 1000)),
    201,
  );
  expect(await sendDueReminders(db, { hoursBefore: 24, masterKeys: testMasterKeys })).toBeGreaterThanOrEqual(
    1,
  );
  await ok(call(provider, "GET", `/patients/${me.id}`), 200);
  await ok(call(patient, "POST", `/appointments/${later.id}/cancel`, requestBodies.cancellation()), 200);
  // Two hours pass: the visit has begun, and may be recorded as having taken place.
  await db.execute(
    sql`UPDATE appointments SET scheduled_at = now() - interval '5 minutes',
          ends_at = now() - interval '5 minutes' + make_interval(mins => duration_minutes) WHERE id = ${soon.id}`,
  );
  await ok(call(provider, "POST", `/appointments/${soon.id}/complete`), 200);

  const document = await ok(call(patient, "POST", "/documents", requestBodies.document(me.id)), 201);
  await ok(call(patient, "POST", `/documents/${document.id}/consents`, requestBodies.consent()), 201);
  await ok(
    call(service, "POST", `/documents/${document.id}/processing-results`, requestBodies.processingResult()),
    200,
  );
  await ok(call(patient, "DELETE", `/documents/${document.id}`, { reason: "Uploaded twice" }), 204);

  await ok(call(provider, "POST", "/notifications/email", requestBodies.email(me.id)), 202);
  await ok(call(provider, "POST", "/notifications/sms", requestBodies.sms(me.id)), 202);
  await ok(
    call(provider, "POST", "/notifications/push", { ...requestBodies.push(me.id), userId: patient.userId }),
    202,
  );

  const model = await ok(call(service, "POST", "/ai/models", requestBodies.model()), 201);
  await ok(call(service, "POST", `/ai/models/${model.id}/performance`, requestBodies.performance()), 200);
  const prediction = await ok(
    call(service, "POST", "/ai/predictions", requestBodies.prediction(model.id, me.id)),
    201,
  );
  await ok(
    call(service, "POST", "/ai/insights", { ...requestBodies.insight(me.id), predictionId: prediction.id }),
    201,
  );
  await ok(call(service, "POST", "/internal/login-attempts", requestBodies.loginAttempt()), 201);
  // Twice: a compliance watch at its lowest threshold (1) alerts on the second refusal of one principal.
  await ok(call(auditor, "GET", `/patients/${me.id}`), 403);
  await ok(call(auditor, "GET", `/patients/${me.id}`), 403);
  await ok(call(admin, "DELETE", `/patients/${me.id}`), 204);
  return {
    patientId: me.id,
    remindedAppointmentId: soon.id,
    callers: { admin, patient, provider, service, auditor },
  };
}

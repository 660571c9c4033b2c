// The appointment service: book, read, cancel and complete visits. Who may act on an appointment follows
// its patient (apps/http/patientAccess.ts); Postgres refuses a provider's overlapping slots.
import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { type Database, type WriteTransaction, writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import type { cancellingParties } from "../../events/appointment.ts";
import { CLOCK_SKEW_MS } from "../../events/fields.ts";
import { AccessRefused } from "../http/access.ts";
import { type AuditedResource, dataAccessed, dataModified } from "../http/auditEvents.ts";
import type { Role } from "../http/auth.ts";
import { refusingConflicts } from "../http/constraintViolation.ts";
import { eventContext } from "../http/eventContext.ts";
import { requireFuture } from "../http/future.ts";
import { answerOnce } from "../http/idempotency.ts";
import { createdAt, json, problem, securedRoute } from "../http/openapi.ts";
import {
  assertReachesPatient,
  findPatientOwner,
  patientAggregate,
  requirePatientOwner,
} from "../http/patientAccess.ts";
import { assertWriteConditions } from "../http/preconditions.ts";
import { HttpProblem } from "../http/problem.ts";
import { createRouter, type ServiceEnv } from "../http/service.ts";
import { findProvider, findProviderOfLogin } from "../provider/store.ts";
import {
  type AppointmentResponse,
  appointmentIdParam,
  appointmentResponse,
  bookAppointmentBody,
  cancelAppointmentBody,
} from "./schemas.ts";
import {
  type AppointmentRow,
  findAppointment,
  insertAppointment,
  NO_DOUBLE_BOOKING,
  PATIENT_IN_ONE_PLACE,
  updateAppointment,
} from "./store.ts";

export const APPOINTMENT_SERVICE = "appointment-service";

const access = (roles: readonly Role[], rule: string) => ({
  source: APPOINTMENT_SERVICE,
  resource: "appointment",
  roles,
  rule,
});
const OF_THEIR_PATIENTS =
  "A patient acts on their own appointments; a provider on those of the patients who have an appointment with them.";

const routes = {
  book: securedRoute(
    access(
      ["patient", "provider", "admin"],
      "A patient books for themselves; a provider books with themselves, for patients they already see.",
    ),
    {
      method: "post",
      path: "/appointments",
      summary: "Book an appointment (emits appointment.booked)",
      request: {
        body: { content: json(bookAppointmentBody), required: true },
      },
      responses: {
        201: createdAt("Booked", appointmentResponse, "/appointments/{id}"),
        400: problem("Invalid input, or a time in the past"),
        404: problem("Unknown patient or provider"),
        409: problem("The provider, or the patient, already has an appointment overlapping that time"),
        422: problem("Idempotency-Key reused for another request"),
      },
    },
    { creates: true },
  ),
  get: securedRoute(access(["patient", "provider", "admin"], OF_THEIR_PATIENTS), {
    method: "get",
    path: "/appointments/{id}",
    summary: "Read an appointment (emits audit.data.accessed)",
    request: { params: appointmentIdParam },
    responses: {
      200: { description: "The appointment", content: json(appointmentResponse) },
      404: problem("Unknown appointment"),
    },
  }),
  cancel: securedRoute(
    access(["patient", "provider", "admin"], OF_THEIR_PATIENTS),
    {
      method: "post",
      path: "/appointments/{id}/cancel",
      summary: "Cancel a booked appointment (emits appointment.cancelled)",
      request: {
        params: appointmentIdParam,
        body: { content: json(cancelAppointmentBody), required: true },
      },
      responses: {
        200: { description: "The cancelled appointment", content: json(appointmentResponse) },
        400: problem("Invalid input"),
        404: problem("Unknown appointment"),
        409: problem("The appointment is not booked any more (cancelled or completed)"),
        422: problem("Idempotency-Key reused for another request"),
      },
    },
    { conditionalOn: "/appointments/{id}", answersWithRecord: true },
  ),
  complete: securedRoute(
    access(["provider", "admin"], "A provider completes their own appointments."),
    {
      method: "post",
      path: "/appointments/{id}/complete",
      summary: "Record that a booked appointment took place (emits appointment.completed)",
      request: { params: appointmentIdParam },
      responses: {
        200: { description: "The completed appointment", content: json(appointmentResponse) },
        404: problem("Unknown appointment"),
        409: problem(
          "The appointment is not booked any more (cancelled or completed), or has not begun (its scheduledAt is more than a minute away)",
        ),
        422: problem("Idempotency-Key reused for another request"),
      },
    },
    { conditionalOn: "/appointments/{id}", answersWithRecord: true },
  ),
};

/** Who cancelled, in the catalog's terms. */
const CANCELLED_BY: Record<Role, (typeof cancellingParties)[number]> = {
  patient: "PATIENT",
  provider: "PROVIDER",
  admin: "STAFF",
  auditor: "STAFF",
  service: "SYSTEM",
};

export function appointmentRoutes(db: Database) {
  return createRouter()
    .openapi(routes.book, async (c) => {
      const body = c.req.valid("json");
      const principal = c.get("principal");
      const id = randomUUID();
      const answer = await answerOnce(
        c,
        db,
        APPOINTMENT_SERVICE,
        async (tx) => {
          requireFuture("body.scheduledAt", body.scheduledAt);
          const patient = await requirePatientOwner(tx, body.patientId);
          const resource = { type: "appointment", id: "/appointments", patientId: patient.id };
          await assertReachesPatient(tx, principal, patient, { source: APPOINTMENT_SERVICE, resource });
          const provider = await findProvider(tx, body.providerId);
          if (!provider) throw HttpProblem.notFound(`There is no provider ${body.providerId}.`);
          if (principal.role === "provider" && provider.userId !== principal.userId) {
            throw new AccessRefused(
              APPOINTMENT_SERVICE,
              principal,
              resource,
              "own-profile-only",
              "A provider books appointments with themselves only.",
            );
          }
          const scheduledAt = new Date(body.scheduledAt);
          const row = await oneBookingPerSlot(() =>
            insertAppointment(tx, {
              ...body,
              id,
              scheduledAt,
              endsAt: new Date(scheduledAt.getTime() + body.durationMinutes * 60_000),
            }),
          );
          await appendEvents(tx, eventContext(c, APPOINTMENT_SERVICE), [
            {
              type: "appointment.booked",
              data: { ...body, appointmentId: id, scheduledAt: scheduledAt.toISOString() },
            },
            dataModified(principal, appointmentResource(row), "CREATE"),
          ]);
          return {
            status: 201 as const,
            body: toResponse(row),
            headers: { Location: `/appointments/${id}` },
            patientId: row.patientId,
          };
        },
        // One provider's bookings in line: concurrent inserts checking one exclusion constraint deadlock each
        // other, and a crowd of them kept colliding on retry. And the patient's: a booking is a row naming them
        // (patientAggregate).
        {
          lockAggregate: [
            { aggregateType: "provider", aggregateId: body.providerId },
            patientAggregate(body.patientId),
          ],
          appendsTo: appointmentAggregate(id),
        },
      );
      return c.json(answer.body, answer.status, answer.headers);
    })
    .openapi(routes.get, async (c) => {
      const { id } = c.req.valid("param");
      const row = await writeTransaction(db, async (tx) => {
        const appointment = await reachableAppointment(c, tx, id);
        await appendEvents(tx, eventContext(c, APPOINTMENT_SERVICE), [
          dataAccessed(c.get("principal"), appointmentResource(appointment)),
        ]);
        return appointment;
      });
      return c.json(toResponse(row), 200);
    })
    .openapi(routes.cancel, async (c) => {
      const { id } = c.req.valid("param");
      const { reason } = c.req.valid("json");
      const principal = c.get("principal");
      const answer = await answerOnce(
        c,
        db,
        APPOINTMENT_SERVICE,
        async (tx) => {
          const appointment = await reachableAppointment(c, tx, id, { lock: true });
          assertWriteConditions(c, toResponse(appointment));
          assertBooked(appointment);
          const cancelledAt = new Date();
          const cancelledBy = CANCELLED_BY[principal.role];
          const row = await updateAppointment(tx, id, {
            status: "CANCELLED",
            cancelledAt,
            cancelledBy,
            cancellationReason: reason,
          });
          await appendEvents(tx, eventContext(c, APPOINTMENT_SERVICE), [
            {
              type: "appointment.cancelled",
              data: {
                appointmentId: id,
                patientId: row.patientId,
                cancelledAt: cancelledAt.toISOString(),
                cancelledBy,
                reason,
              },
            },
            dataModified(principal, appointmentResource(row), "UPDATE", ["status", "cancellationReason"]),
          ]);
          return { status: 200 as const, body: toResponse(row), patientId: row.patientId };
        },
        { appendsTo: appointmentAggregate(id) },
      );
      return c.json(answer.body, answer.status);
    })
    .openapi(routes.complete, async (c) => {
      const { id } = c.req.valid("param");
      const principal = c.get("principal");
      const answer = await answerOnce(
        c,
        db,
        APPOINTMENT_SERVICE,
        async (tx) => {
          const appointment = await reachableAppointment(c, tx, id, { lock: true });
          if (principal.role === "provider") {
            const ownProfile = await findProviderOfLogin(tx, principal.userId);
            if (ownProfile?.id !== appointment.providerId) {
              throw new AccessRefused(
                APPOINTMENT_SERVICE,
                principal,
                appointmentResource(appointment),
                "own-profile-only",
                "A provider completes only their own appointments.",
              );
            }
          }
          assertWriteConditions(c, toResponse(appointment));
          assertBooked(appointment);
          const completedAt = new Date();
          assertBegun(appointment, completedAt);
          const row = await updateAppointment(tx, id, { status: "COMPLETED", completedAt });
          await appendEvents(tx, eventContext(c, APPOINTMENT_SERVICE), [
            {
              type: "appointment.completed",
              data: {
                appointmentId: id,
                patientId: row.patientId,
                providerId: row.providerId,
                completedAt: completedAt.toISOString(),
              },
            },
            dataModified(principal, appointmentResource(row), "UPDATE", ["status"]),
          ]);
          return { status: 200 as const, body: toResponse(row), patientId: row.patientId };
        },
        { appendsTo: appointmentAggregate(id) },
      );
      return c.json(answer.body, answer.status);
    });
}

const appointmentAggregate = (id: string) => ({ aggregateType: "appointment", aggregateId: id });

const appointmentResource = (row: Pick<AppointmentRow, "id" | "patientId">): AuditedResource => ({
  type: "appointment",
  id: row.id,
  patientId: row.patientId,
});

/** The appointment `id` if the principal reaches its patient: else a 404, or a refusal. */
async function reachableAppointment(
  c: Context<ServiceEnv>,
  tx: WriteTransaction,
  id: string,
  options: { lock?: boolean } = {},
): Promise<AppointmentRow> {
  const appointment = await findAppointment(tx, id, options);
  // A deleted patient's appointments are gone with them: the answer names no patient.
  const patient = appointment && (await findPatientOwner(tx, appointment.patientId));
  if (!appointment || !patient) throw HttpProblem.notFound(`There is no appointment ${id}.`);
  await assertReachesPatient(tx, c.get("principal"), patient, {
    source: APPOINTMENT_SERVICE,
    resource: appointmentResource(appointment),
  });
  return appointment;
}

function assertBooked(appointment: AppointmentRow): void {
  if (appointment.status !== "BOOKED") {
    throw new HttpProblem(409, "Conflict", `The appointment is ${appointment.status.toLowerCase()} already.`);
  }
}

/** A visit takes place once its time has come: one is completed no earlier than its start (a minute allowed for
 * clocks), so that no appointment of next week is recorded as having taken place. */
function assertBegun(appointment: AppointmentRow, now: Date): void {
  if (appointment.scheduledAt.getTime() > now.getTime() + CLOCK_SKEW_MS) {
    throw new HttpProblem(
      409,
      "Conflict",
      `The appointment starts at ${appointment.scheduledAt.toISOString()}; it can be completed once it has begun.`,
    );
  }
}

/** Neither the provider's slot nor the patient's time may overlap another live appointment (store.ts). */
const oneBookingPerSlot = (book: () => Promise<AppointmentRow>) =>
  refusingConflicts(book, {
    [NO_DOUBLE_BOOKING]:
      "The provider already has an appointment overlapping that slot; choose another time.",
    [PATIENT_IN_ONE_PLACE]:
      "The patient already has an appointment overlapping that time; choose another time.",
  });

function toResponse(row: AppointmentRow): AppointmentResponse {
  return {
    id: row.id,
    patientId: row.patientId,
    providerId: row.providerId,
    scheduledAt: row.scheduledAt.toISOString(),
    durationMinutes: row.durationMinutes,
    appointmentType: row.appointmentType as AppointmentResponse["appointmentType"],
    location: row.location,
    notes: row.notes,
    status: row.status,
    cancelledAt: row.cancelledAt?.toISOString() ?? null,
    cancelledBy: row.cancelledBy,
    cancellationReason: row.cancellationReason,
    completedAt: row.completedAt?.toISOString() ?? null,
    remindedAt: row.remindedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

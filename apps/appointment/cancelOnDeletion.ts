// A deleted patient's booked appointments are cancelled in the deletion's own transaction: left booked, they
// would still be reminded of, still hold their providers' slots, and no one could cancel them any more (every
// route refuses a deleted patient's records). An erased patient's too, before the erasure removes the rows: a
// calendar built from appointment-events learns that the visit will not take place.
import type { Context } from "hono";
import type { WriteTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { dataModified } from "../http/auditEvents.ts";
import { eventContext } from "../http/eventContext.ts";
import type { ServiceEnv } from "../http/service.ts";
import { APPOINTMENT_SERVICE } from "./routes.ts";
import { cancelBookedOf } from "./store.ts";

export const CANCELLED_WITH_PATIENT = "The patient's record was deleted.";
export const CANCELLED_WITH_ERASURE = "The patient's record was erased.";

/** Cancels the patient's booked appointments, each with its appointment.cancelled; returns how many. */
export async function cancelAppointmentsOfDeletedPatient(
  c: Context<ServiceEnv>,
  tx: WriteTransaction,
  patientId: string,
  reason: typeof CANCELLED_WITH_PATIENT | typeof CANCELLED_WITH_ERASURE = CANCELLED_WITH_PATIENT,
): Promise<number> {
  const cancelledAt = new Date();
  const cancelled = await cancelBookedOf(tx, patientId, {
    cancelledAt,
    // Only an administrator deletes or erases a patient (apps/patient/routes.ts).
    cancelledBy: "STAFF",
    cancellationReason: reason,
  });
  if (cancelled.length === 0) return 0;
  await appendEvents(
    tx,
    eventContext(c, APPOINTMENT_SERVICE),
    cancelled.flatMap((row) => [
      {
        type: "appointment.cancelled" as const,
        data: {
          appointmentId: row.id,
          patientId: row.patientId,
          cancelledAt: cancelledAt.toISOString(),
          cancelledBy: "STAFF" as const,
          reason,
        },
      },
      dataModified(
        c.get("principal"),
        { type: "appointment", id: row.id, patientId: row.patientId },
        "UPDATE",
        ["status", "cancellationReason"],
      ),
    ]),
  );
  return cancelled.length;
}

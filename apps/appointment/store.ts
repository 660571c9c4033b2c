// The appointment service's SQL: booking rows, their lifecycle, and the reminder scheduler's claim on the
// appointments whose reminder is due.
import { and, asc, eq, gt, inArray, isNull, lte, sql } from "drizzle-orm";
import type { WriteTransaction } from "../../db/client.ts";
import { encodedPlaceholder, encodedValue, preparedPerConnection } from "../../db/preparedQuery.ts";
import { appointments } from "../../db/schema.ts";

export type AppointmentRow = typeof appointments.$inferSelect;
export type NewAppointmentRow = typeof appointments.$inferInsert;

/** The exclusion constraint (migration 0006) that refuses a provider's overlapping live appointments. */
export const NO_DOUBLE_BOOKING = "appointments_no_double_booking";
/** The constraint that keeps a patient's live appointments from overlapping (migration 0020). */
export const PATIENT_IN_ONE_PLACE = "appointments_patient_in_one_place";

/** What a booking sets; the status and times take their defaults. */
export type BookedAppointment = Required<
  Pick<
    NewAppointmentRow,
    | "id"
    | "patientId"
    | "providerId"
    | "scheduledAt"
    | "endsAt"
    | "durationMinutes"
    | "appointmentType"
    | "location"
    | "notes"
  >
>;

// Every booking runs it: a prepared query (db/preparedQuery.ts), built once per connection.
const booking = preparedPerConnection((tx) =>
  tx
    .insert(appointments)
    .values({
      id: sql.placeholder("id"),
      patientId: sql.placeholder("patientId"),
      providerId: sql.placeholder("providerId"),
      scheduledAt: sql.placeholder("scheduledAt"),
      endsAt: sql.placeholder("endsAt"),
      durationMinutes: sql.placeholder("durationMinutes"),
      appointmentType: sql.placeholder("appointmentType"),
      location: sql.placeholder("location"),
      notes: encodedPlaceholder("notes"),
    })
    .returning()
    .prepare("appointments.insert.v1"),
);

export async function insertAppointment(
  tx: WriteTransaction,
  row: BookedAppointment,
): Promise<AppointmentRow> {
  const [inserted] = await booking(tx).execute({
    ...row,
    notes: encodedValue(appointments.notes, row.notes),
  });
  if (!inserted) throw new Error("insert into appointments returned no row");
  return inserted;
}

export async function findAppointment(
  tx: WriteTransaction,
  id: string,
  options: { lock?: boolean } = {},
): Promise<AppointmentRow | undefined> {
  const query = tx.select().from(appointments).where(eq(appointments.id, id));
  const [row] = options.lock ? await query.for("update") : await query;
  return row;
}

export async function updateAppointment(
  tx: WriteTransaction,
  id: string,
  changes: Partial<NewAppointmentRow>,
): Promise<AppointmentRow> {
  const [updated] = await tx
    .update(appointments)
    .set({ ...changes, updatedAt: new Date() })
    .where(eq(appointments.id, id))
    .returning();
  if (!updated) throw new Error(`update of appointment ${id} returned no row`);
  return updated;
}

/** Cancels every appointment of the patient still booked; returns them as cancelled, earliest first. */
export async function cancelBookedOf(
  tx: WriteTransaction,
  patientId: string,
  cancellation: Required<Pick<NewAppointmentRow, "cancelledAt" | "cancelledBy" | "cancellationReason">>,
): Promise<AppointmentRow[]> {
  const cancelled = await tx
    .update(appointments)
    .set({ ...cancellation, status: "CANCELLED", updatedAt: new Date() })
    .where(and(eq(appointments.patientId, patientId), eq(appointments.status, "BOOKED")))
    .returning();
  // In the order of their times (an UPDATE returns rows in whatever order it met them), so that their events are.
  return cancelled.sort(
    (a, b) => a.scheduledAt.getTime() - b.scheduledAt.getTime() || a.id.localeCompare(b.id),
  );
}

/**
 * Locks booked, not yet reminded appointments that start after `now` and no later than `horizon`, earliest
 * first. SKIP LOCKED lets several schedulers share the work: each takes rows the others have not locked,
 * and `reminded_at`, set in the same transaction, keeps them from being taken again once it commits.
 * Served by the partial index appointments_reminder_due.
 */
export async function lockDueReminders(
  tx: WriteTransaction,
  window: { now: Date; horizon: Date; limit: number },
): Promise<AppointmentRow[]> {
  return tx
    .select()
    .from(appointments)
    .where(
      and(
        eq(appointments.status, "BOOKED"),
        isNull(appointments.remindedAt),
        gt(appointments.scheduledAt, window.now),
        lte(appointments.scheduledAt, window.horizon),
      ),
    )
    .orderBy(asc(appointments.scheduledAt))
    .limit(window.limit)
    .for("update", { skipLocked: true });
}

/** A reminder changes the appointment as its answer shows it (`remindedAt`): its `updatedAt` moves with it. */
export async function markReminded(tx: WriteTransaction, ids: string[], at: Date): Promise<void> {
  if (ids.length === 0) return;
  await tx.update(appointments).set({ remindedAt: at, updatedAt: at }).where(inArray(appointments.id, ids));
}

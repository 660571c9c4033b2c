// The `data` schemas of appointment-events: booking, cancellation, completion and reminders of a visit.
// Fields follow the platform guide's appointment example.
import { z } from "zod";
import { text, utcTimestamp, uuid, webAddress } from "./fields.ts";

export const appointmentTypes = ["CONSULTATION", "FOLLOW_UP", "CHECKUP", "EMERGENCY", "TELEHEALTH"] as const;

/** A visit happens either at a video link or at an address; each kind requires its own field. */
export const appointmentLocationSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("VIRTUAL"),
    /** Only https: the link leads to a consultation about the patient's health. */
    url: webAddress(["https"], "https://meet.example.org/room-42"),
  }),
  z.strictObject({
    type: z.literal("IN_PERSON"),
    address: text(500),
  }),
]);

export const appointmentBookedSchema = z.strictObject({
  appointmentId: uuid,
  patientId: uuid,
  providerId: uuid,
  scheduledAt: utcTimestamp,
  durationMinutes: z.int().min(5).max(480),
  appointmentType: z.enum(appointmentTypes),
  location: appointmentLocationSchema,
  notes: text(2000).nullable(),
});

export const cancellingParties = ["PATIENT", "PROVIDER", "STAFF", "SYSTEM"] as const;

export const appointmentCancelledSchema = z.strictObject({
  appointmentId: uuid,
  patientId: uuid,
  cancelledAt: utcTimestamp,
  cancelledBy: z.enum(cancellingParties),
  reason: text(500),
});

export const appointmentCompletedSchema = z.strictObject({
  appointmentId: uuid,
  patientId: uuid,
  providerId: uuid,
  completedAt: utcTimestamp,
});

/**
 * Asks for a reminder to be sent. `hoursBefore` rather than an absolute send time: the event is written when
 * the reminder is due, so the envelope's timestamp already says when, and the text can say "in 24 hours".
 */
export const appointmentReminderSchema = z.strictObject({
  appointmentId: uuid,
  patientId: uuid,
  scheduledAt: utcTimestamp,
  hoursBefore: z.int().min(1).max(168),
});

// The appointment API's bodies, built from the catalog's appointment schemas: what a booking accepts is
// what appointment.booked carries, plus the rule that a booking is for the future (checked by the route).
import { z } from "zod";
import { appointmentStatuses } from "../../db/schema.ts";
import {
  appointmentBookedSchema,
  appointmentCancelledSchema,
  appointmentLocationSchema,
  appointmentTypes,
} from "../../events/appointment.ts";
import { anyCaseUuid } from "../http/ids.ts";

const booked = appointmentBookedSchema.omit({ appointmentId: true }).shape;

/** Where timestamps end: an appointment running past it would have an end no database column can hold. */
const END_OF_YEAR_9999 = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export const bookAppointmentBody = z
  .strictObject({
    ...booked,
    patientId: anyCaseUuid,
    providerId: anyCaseUuid,
    // (checked when the booking is made: apps/http/future.ts)
    scheduledAt: booked.scheduledAt.meta({
      description:
        "In the future (a retry with the first request's Idempotency-Key is answered as it was, later too), and the appointment, durationMinutes after it, over by 9999-12-31T23:59:59.999Z: no stored time lies past it.",
      "x-after": "now",
    }),
    notes: booked.notes.optional().default(null),
  })
  .refine((body) => Date.parse(body.scheduledAt) + body.durationMinutes * 60_000 <= END_OF_YEAR_9999, {
    path: ["scheduledAt"],
    error: "the appointment must end within the year 9999",
  });

export const cancelAppointmentBody = z.strictObject({ reason: appointmentCancelledSchema.shape.reason });

export const appointmentIdParam = z.strictObject({ id: anyCaseUuid });

const instant = z.iso.datetime();

export const appointmentResponse = z.object({
  id: z.uuid(),
  patientId: z.uuid(),
  providerId: z.uuid(),
  scheduledAt: instant,
  durationMinutes: z.int(),
  appointmentType: z.enum(appointmentTypes),
  location: appointmentLocationSchema,
  notes: z.string().nullable(),
  status: z.enum(appointmentStatuses),
  cancelledAt: instant.nullable(),
  cancelledBy: z.string().nullable(),
  cancellationReason: z.string().nullable(),
  completedAt: instant.nullable(),
  remindedAt: instant.nullable(),
  createdAt: instant,
  updatedAt: instant,
});

export type BookAppointmentBody = z.infer<typeof bookAppointmentBody>;
export type AppointmentResponse = z.infer<typeof appointmentResponse>;

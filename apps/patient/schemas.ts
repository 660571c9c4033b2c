// The patient API's request and response bodies, built from the event catalog's field schemas so that
// what the API accepts is exactly what the events can carry.
import { z } from "zod";
import { deliverableEmail, isoDate } from "../../events/fields.ts";
import { consentTypes, insuranceInfoInput, patientCreatedSchema } from "../../events/patient.ts";
import { anyCaseUuid } from "../http/ids.ts";

const patientFields = patientCreatedSchema.omit({ patientId: true }).shape;

/**
 * The earliest date of birth a request may give: nobody born before it is alive (the oldest person on record
 * was born in 1875 and died in 1997), so an earlier one is a typing mistake (0001-01-01, 1025 for 2025). Only
 * requests are held to it: the events keep their own schema, so history written before stays readable.
 */
export const EARLIEST_DATE_OF_BIRTH = "1900-01-01";

const dateOfBirth = patientFields.dateOfBirth
  .refine((value) => value >= EARLIEST_DATE_OF_BIRTH, {
    error: `must not be before ${EARLIEST_DATE_OF_BIRTH}`,
    // A date already refused (no such day, year 0000) is not told it is too early as well.
    when: (payload) => payload.issues.length === 0,
  })
  .meta({
    description: `Not in the future (today counts as in UTC+14, the earliest time zone), and not before ${EARLIEST_DATE_OF_BIRTH}.`,
    formatMinimum: EARLIEST_DATE_OF_BIRTH,
  });

/**
 * What a request may send for each field: the login id in any case (lower-cased on the way in), a date of
 * birth no earlier than EARLIEST_DATE_OF_BIRTH, an e-mail address mail can be delivered to, and insurance
 * dates may be left out (stored as null).
 */
const requestFields = {
  ...patientFields,
  dateOfBirth,
  email: deliverableEmail,
  userId: anyCaseUuid.nullable(),
  insuranceInfo: insuranceInfoInput.nullable(),
};

export const createPatientBody = z.strictObject({
  ...requestFields,
  userId: requestFields.userId.optional().default(null),
  insuranceInfo: requestFields.insuranceInfo.optional().default(null),
  medicalConditions: patientFields.medicalConditions.optional().default([]),
  allergies: patientFields.allergies.optional().default([]),
});

export const updatePatientBody = z
  .strictObject(requestFields)
  .partial()
  .refine((body) => Object.keys(body).length > 0, { message: "name at least one field to change" })
  .meta({ minProperties: 1, description: "Names at least one field to change." });

export const consentBody = z
  .strictObject(
    Object.fromEntries(consentTypes.map((type) => [type, z.boolean().optional()])) as {
      [K in (typeof consentTypes)[number]]: z.ZodOptional<z.ZodBoolean>;
    },
  )
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: `name at least one of ${consentTypes.join(", ")}`,
  })
  .meta({ minProperties: 1, description: `Names at least one of ${consentTypes.join(", ")}.` });

export const patientIdParam = z.strictObject({ id: anyCaseUuid });

export const consentState = z.object({
  dataSharing: z.boolean(),
  marketing: z.boolean(),
  research: z.boolean(),
  updatedAt: z.iso.datetime().nullable(),
});

/**
 * A patient as recorded. The rules of a request's time ("not in the future") are left out: they held when the
 * value was written, and a client that checks an answer on another clock, or a day later, must not refuse it.
 */
export const patientResponse = z.object({
  id: z.uuid(),
  ...patientFields,
  dateOfBirth: isoDate,
  consent: consentState,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export type CreatePatientBody = z.infer<typeof createPatientBody>;
export type UpdatePatientBody = z.infer<typeof updatePatientBody>;
export type ConsentBody = z.infer<typeof consentBody>;
export type PatientResponse = z.infer<typeof patientResponse>;

/** What an erasure removed, so the answer to the data subject can say so. */
export const erasureResponse = z.object({
  patientId: z.uuid(),
  erasedAt: z.iso.datetime(),
  /** Rows deleted from the platform's state, per kind; the history keeps its events, unreadable. */
  removed: z.object({
    patients: z.int(),
    appointments: z.int(),
    documents: z.int(),
    documentConsents: z.int(),
    predictions: z.int(),
    insights: z.int(),
    storedResponses: z.int(),
    recordedNotifications: z.int(),
  }),
  /**
   * Where the removed documents' bytes are: object storage the platform never writes to, so the caller
   * deletes them there. Nothing else keeps these addresses readable after the erasure, but for this report
   * itself when the request had an Idempotency-Key: kept for that key's retries, as long as any kept answer.
   */
  documentFilesToDelete: z.array(z.string()),
});

export type ErasureResponse = z.infer<typeof erasureResponse>;

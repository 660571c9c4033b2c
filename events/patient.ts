// The `data` schemas of patient-events: a patient's registration, changes, removal and consent decisions.
// Fields follow the platform guide's patient example.
import { z } from "zod";
import {
  e164Phone,
  email,
  isNotBefore,
  isoDate,
  line,
  pastOrPresentDate,
  utcTimestamp,
  uuid,
} from "./fields.ts";

/** The cross-field rule below, said where JSON Schema can carry it: in words and as an extension. */
const NOT_BEFORE_EFFECTIVE_DATE = {
  description: "Not before effectiveDate, when both are given.",
  "x-not-before": "effectiveDate",
};

const insuranceFields = {
  provider: line(200),
  policyNumber: line(100),
  /** `null` when not known: the guide's own example names only the provider and the policy number. */
  effectiveDate: isoDate.nullable(),
  expiryDate: isoDate.nullable().meta(NOT_BEFORE_EFFECTIVE_DATE),
};

/** A policy cannot end before it starts; with a date unknown there is nothing to compare. */
function withDatesInOrder<T extends z.ZodType<{ effectiveDate: string | null; expiryDate: string | null }>>(
  schema: T,
) {
  return schema.refine(
    (insurance) =>
      insurance.effectiveDate === null ||
      insurance.expiryDate === null ||
      isNotBefore(insurance.expiryDate, insurance.effectiveDate),
    { path: ["expiryDate"], error: "must not be before effectiveDate" },
  );
}

/** As events carry it: every key present, an unknown date `null` (one JSON shape per event type). */
export const insuranceInfoSchema = withDatesInOrder(z.strictObject(insuranceFields));

/** As a request may send it: an unknown date may also be left out, and is then stored as `null`. */
export const insuranceInfoInput = withDatesInOrder(
  z.strictObject({
    ...insuranceFields,
    effectiveDate: insuranceFields.effectiveDate.optional().default(null),
    expiryDate: isoDate.nullable().optional().default(null).meta(NOT_BEFORE_EFFECTIVE_DATE),
  }),
);

/** A patient's first or last name, as the record holds it (and the e-mail templates greet the patient with it). */
export const personName = line(200);

/** Everything a patient record holds except its id: the fields that patient.updated may change. */
const patientFields = {
  /** The login account linked to the patient, `null` until the patient has one. */
  userId: uuid.nullable(),
  firstName: personName,
  lastName: personName,
  dateOfBirth: pastOrPresentDate,
  email,
  phone: e164Phone,
  /** `null` for a patient without insurance on file. */
  insuranceInfo: insuranceInfoSchema.nullable(),
  /** Empty when none are known; never `null`, so "none" has one spelling. */
  medicalConditions: z.array(line(200)),
  allergies: z.array(line(200)),
};

export type PatientField = keyof typeof patientFields;
export const patientFieldNames = Object.keys(patientFields) as [PatientField, ...PatientField[]];

/** patient.created carries the whole patient, so a consumer can build its view from this one event. */
export const patientCreatedSchema = z.strictObject({ patientId: uuid, ...patientFields });

/**
 * patient.updated carries the new values of exactly the fields that changed, named in `changedFields`:
 * a change to `null` (insurance removed) is then told apart from "not changed", the event shows an auditor
 * what the request touched, and unchanged personal data is not copied into one more topic.
 */
export const patientUpdatedSchema = z
  .strictObject({
    patientId: uuid,
    changedFields: z.array(z.enum(patientFieldNames)).min(1, "name at least one changed field"),
    changes: z.strictObject(patientFields).partial(),
  })
  .superRefine((event, context) => {
    const named = new Set<string>(event.changedFields);
    if (named.size !== event.changedFields.length) {
      context.addIssue({ code: "custom", path: ["changedFields"], message: "must not repeat a field" });
    }
    for (const field of named) {
      if (!(field in event.changes)) {
        context.addIssue({
          code: "custom",
          path: ["changes", field],
          message: "is in changedFields but has no value",
        });
      }
    }
    for (const field of Object.keys(event.changes)) {
      if (!named.has(field)) {
        context.addIssue({
          code: "custom",
          path: ["changes", field],
          message: "is not listed in changedFields",
        });
      }
    }
  });

/**
 * The patient record is gone. `erasure`: false for a deletion (the record is kept for the retention duties
 * of medical records), true for a GDPR erasure: the patient's key is destroyed, so every personal field of
 * theirs in the history and on Kafka is unreadable, and consumers must drop what they hold about them.
 */
export const patientDeletedSchema = z.strictObject({
  patientId: uuid,
  deletedAt: utcTimestamp,
  erasure: z.boolean(),
});

export const consentTypes = ["dataSharing", "marketing", "research"] as const;

/**
 * One consent decision per event. A form that changes several consents appends several events in one
 * transaction; they share the patient's key, so they arrive in order and the last one per type wins.
 */
export const patientConsentChangedSchema = z.strictObject({
  patientId: uuid,
  consentType: z.enum(consentTypes),
  granted: z.boolean(),
  changedAt: utcTimestamp,
});

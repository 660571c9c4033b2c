// The patient directory's SQL: one small statement per change an event makes. Every change but creation
// leaves a deleted patient alone, so no late or re-driven event can bring their personal data back.
import { and, eq, isNull, sql } from "drizzle-orm";
import { connectionOf, type WriteTransaction } from "../../db/client.ts";
import { patientDirectory } from "../../db/schema.ts";
import type { EventData } from "../../events/index.ts";

const liveEntry = (patientId: string) =>
  and(eq(patientDirectory.patientId, patientId), isNull(patientDirectory.deletedAt));

/**
 * A re-driven creation of a patient the directory already has (or had) changes nothing. Every patient's
 * creation runs it: a named statement, parsed and planned once per connection.
 */
export async function addPatient(tx: WriteTransaction, data: EventData<"patient.created">, at: Date) {
  await connectionOf(tx).query({
    name: "patient-directory.add.v1",
    text: `INSERT INTO patient_directory (patient_id, first_name, last_name, email, phone, last_event_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
    values: [data.patientId, data.firstName, data.lastName, data.email, data.phone, at],
  });
}

/** The directory keeps names and contact details only: other changed fields are not its business. */
export async function applyPatientChanges(
  tx: WriteTransaction,
  data: EventData<"patient.updated">,
  at: Date,
) {
  const { firstName, lastName, email, phone } = data.changes;
  const changes = Object.fromEntries(
    Object.entries({ firstName, lastName, email, phone }).filter(([, value]) => value !== undefined),
  );
  if (Object.keys(changes).length === 0) return;
  await tx
    .update(patientDirectory)
    .set({ ...changes, lastEventAt: at })
    .where(liveEntry(data.patientId));
}

const consentColumns = {
  dataSharing: "consentDataSharing",
  marketing: "consentMarketing",
  research: "consentResearch",
} as const;

export async function recordConsent(
  tx: WriteTransaction,
  data: EventData<"patient.consent.changed">,
  at: Date,
) {
  await tx
    .update(patientDirectory)
    .set({ [consentColumns[data.consentType]]: data.granted, lastEventAt: at })
    .where(liveEntry(data.patientId));
}

/**
 * Keeps the row as a tombstone with every personal field cleared and every consent withdrawn. Inserted
 * when the directory never knew the patient, so that a late creation cannot resurrect them either.
 */
export async function removePatient(tx: WriteTransaction, data: EventData<"patient.deleted">, at: Date) {
  const deletedAt = new Date(data.deletedAt);
  const tombstone = {
    firstName: null,
    lastName: null,
    email: null,
    phone: null,
    consentDataSharing: false,
    consentMarketing: false,
    consentResearch: false,
    lastEventAt: at,
    deletedAt,
  };
  await tx
    .insert(patientDirectory)
    .values({ patientId: data.patientId, ...tombstone })
    .onConflictDoUpdate({
      target: patientDirectory.patientId,
      set: { ...tombstone, deletedAt: sql`coalesce(${patientDirectory.deletedAt}, ${deletedAt})` },
    });
}

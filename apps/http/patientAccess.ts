// Which patients a principal reaches. A patient: their own records, those whose `user_id` is their token's
// subject. A provider: the patients who have a booked or completed appointment with them (the care
// relationship begins with the booking, and once a visit took place its history stays theirs; a booking
// cancelled before any visit ends it: nothing was ever theirs to need). An admin, and a service on the
// routes that admit services: every patient. Other roles are refused by the route before any record is read.
import { and, eq, isNull, ne, sql } from "drizzle-orm";
import type { WriteTransaction } from "../../db/client.ts";
import type { AggregateRef } from "../../db/outbox/aggregateHeads.ts";
import { preparedPerConnection } from "../../db/preparedQuery.ts";
import { appointments, patients, providers } from "../../db/schema.ts";
import { AccessRefused } from "./access.ts";
import type { AuditedResource } from "./auditEvents.ts";
import type { Principal } from "./auth.ts";
import { HttpProblem } from "./problem.ts";

/**
 * A patient's aggregate, as writeTransaction locks it (db/client.ts). Every write that adds a row or an event
 * naming a patient takes it, as the patient's own changes, deletion and erasure do: a booking, a document or a
 * prediction added while the patient is deleted or erased then comes wholly before (and is cancelled or erased
 * with the rest) or wholly after (and finds no patient). Without it, a booking committed after the deletion's
 * snapshot stayed BOOKED for a deleted patient, where nobody could cancel it, and an erasure failed on it.
 */
export const patientAggregate = (patientId: string): AggregateRef => ({
  aggregateType: "patient",
  aggregateId: patientId,
});

/** What access decisions need of a patient: who they are and which login is theirs. */
export interface PatientOwner {
  id: string;
  userId: string | null;
}

// Both statements below run on most requests: prepared queries (db/preparedQuery.ts), built once per connection.
const livePatientOwnerQuery = (tx: WriteTransaction) =>
  tx
    .select({ id: patients.id, userId: patients.userId })
    .from(patients)
    .where(and(eq(patients.id, sql.placeholder("patientId")), isNull(patients.deletedAt)));

const livePatientOwner = preparedPerConnection((tx) =>
  livePatientOwnerQuery(tx).prepare("patients.find-live-owner.v1"),
);

export async function findPatientOwner(
  tx: WriteTransaction,
  patientId: string,
): Promise<PatientOwner | undefined> {
  const [row] = await livePatientOwner(tx).execute({ patientId });
  return row;
}

const lockedPatientOwner = preparedPerConnection((tx) =>
  livePatientOwnerQuery(tx).for("share").prepare("patients.lock-live-owner.v1"),
);

/**
 * findPatientOwner with the patient's row share-locked until the transaction ends, for a write naming the patient
 * on a record of its own (a document's): the patient's deletion, erasure or change of login, which lock the row
 * for update, wait for it, and one that committed after this transaction began fails it (a serialization
 * failure, retried from a fresh snapshot).
 */
export async function lockPatientOwner(
  tx: WriteTransaction,
  patientId: string,
): Promise<PatientOwner | undefined> {
  const [row] = await lockedPatientOwner(tx).execute({ patientId });
  return row;
}

/** The live patient `patientId`, or a 404 problem. */
export async function requirePatientOwner(tx: WriteTransaction, patientId: string): Promise<PatientOwner> {
  const owner = await findPatientOwner(tx, patientId);
  if (!owner) throw HttpProblem.notFound(`There is no patient ${patientId}.`);
  return owner;
}

/**
 * Throws AccessRefused unless the principal reaches the patient. `resource` is what the request touches
 * (the patient, or their appointment or document), recorded in the violation.
 */
export async function assertReachesPatient(
  tx: WriteTransaction,
  principal: Principal,
  patient: PatientOwner,
  refusal: { source: string; resource: AuditedResource },
): Promise<void> {
  const refuse = (
    rule: "own-records-only" | "treating-provider-only" | "role-not-permitted",
    reason: string,
  ) => new AccessRefused(refusal.source, principal, refusal.resource, rule, reason);
  switch (principal.role) {
    case "admin":
    case "service":
      return;
    case "patient":
      if (patient.userId === principal.userId) return;
      throw refuse("own-records-only", "A patient reaches only their own records.");
    case "provider":
      if (await treatsPatient(tx, principal.userId, patient.id)) return;
      throw refuse(
        "treating-provider-only",
        "A provider reaches only the patients who have an appointment with them.",
      );
    default:
      throw refuse("role-not-permitted", `The ${principal.role} role reaches no patient records.`);
  }
}

/** Whether the provider whose login is `providerUserId` has an appointment with the patient, booked or held. */
async function treatsPatient(tx: WriteTransaction, providerUserId: string, patientId: string) {
  const [row] = await careRelationship(tx).execute({ patientId, providerUserId });
  return row !== undefined;
}

const careRelationship = preparedPerConnection((tx) =>
  tx
    .select({ found: sql<number>`1` })
    .from(appointments)
    .innerJoin(providers, eq(providers.id, appointments.providerId))
    .where(
      and(
        eq(appointments.patientId, sql.placeholder("patientId")),
        eq(providers.userId, sql.placeholder("providerUserId")),
        ne(appointments.status, "CANCELLED"),
      ),
    )
    .limit(1)
    .prepare("appointments.care-relationship.v2"),
);

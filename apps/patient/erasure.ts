// GDPR erasure (Art. 17) by crypto-shredding: in one transaction, the patient's rows are deleted from every
// service's state, their data key is destroyed, and the events that say so are appended. The history keeps
// every event about them, whole and verifiable, but their personal fields there (and on Kafka, and in
// exports) were sealed under that key and can no longer be opened by anyone. README.md's "Where patient data
// lives" lists every place and what this does to it. Their e-mail addresses and phone numbers, the current ones
// and every one the history holds, stay as keyed hashes only (db/erasedLogins.ts), so that a login typing one
// later does not write it back in plain text.
import { and, eq, inArray, isNotNull, or } from "drizzle-orm";
import { SnapshotConflict, type WriteTransaction } from "../../db/client.ts";
import { type ErasedLogins, recordErasedLogins } from "../../db/erasedLogins.ts";
import { accountsOfPatient } from "../../db/outbox/accountsOfPatient.ts";
import { sealedLoginsOfPatient } from "../../db/outbox/sealedLoginsOfPatient.ts";
import { destroyDataKey, liveDataKeys, PatientKeyMissing } from "../../db/patientKeys.ts";
import {
  aiInsights,
  aiPredictions,
  appointments,
  documentConsents,
  documents,
  patientKeys,
  patients,
  recordedNotifications,
} from "../../db/schema.ts";
import { normalizedLogin } from "../../phi/erasedLoginPseudonym.ts";
import { CiphertextRejected, isSealed, openValue } from "../../phi/fieldCipher.ts";
import type { MasterKeys } from "../../phi/masterKeys.ts";
import { eraseKeptAnswers } from "../http/idempotencyKeys.ts";
import type { ErasureResponse } from "./schemas.ts";

export type ErasureOutcome =
  | { outcome: "erased"; report: ErasureResponse }
  | { outcome: "unknown" }
  | { outcome: "already-erased"; erasedAt: Date };

export async function erasePatient(
  tx: WriteTransaction,
  patientId: string,
  masterKeys: MasterKeys,
): Promise<ErasureOutcome> {
  const [patient] = await tx
    .select({ id: patients.id, email: patients.email, phone: patients.phone, userId: patients.userId })
    .from(patients)
    .where(eq(patients.id, patientId))
    .for("update");
  if (!patient) {
    const [key] = await tx
      .select({ erasedAt: patientKeys.erasedAt })
      .from(patientKeys)
      .where(and(eq(patientKeys.patientId, patientId), isNotNull(patientKeys.erasedAt)));
    return key?.erasedAt ? { outcome: "already-erased", erasedAt: key.erasedAt } : { outcome: "unknown" };
  }
  const erasedAt = new Date();
  const ofPatientDocuments = tx
    .select({ id: documents.id })
    .from(documents)
    .where(eq(documents.patientId, patientId));
  const ofPatientPredictions = tx
    .select({ id: aiPredictions.id })
    .from(aiPredictions)
    .where(eq(aiPredictions.patientId, patientId));
  // Children before parents (foreign keys), each delete counted.
  const documentConsentRows = await tx
    .delete(documentConsents)
    .where(inArray(documentConsents.documentId, ofPatientDocuments))
    .returning({ id: documentConsents.id });
  const insightRows = await tx
    .delete(aiInsights)
    .where(or(eq(aiInsights.patientId, patientId), inArray(aiInsights.predictionId, ofPatientPredictions)))
    .returning({ id: aiInsights.id });
  const predictionRows = await tx
    .delete(aiPredictions)
    .where(eq(aiPredictions.patientId, patientId))
    .returning({ id: aiPredictions.id });
  const documentRows = await freshOnForeignKey(() =>
    tx
      .delete(documents)
      .where(eq(documents.patientId, patientId))
      .returning({ id: documents.id, storageUrl: documents.storageUrl }),
  );
  const appointmentRows = await tx
    .delete(appointments)
    .where(eq(appointments.patientId, patientId))
    .returning({ id: appointments.id });
  // The development transport's "mailbox": the messages as sent, in plain text.
  const notificationRows = await tx
    .delete(recordedNotifications)
    .where(eq(recordedNotifications.patientId, patientId))
    .returning({ id: recordedNotifications.id });
  await freshOnForeignKey(() => tx.delete(patients).where(eq(patients.id, patientId)));
  // Their addresses and numbers, current and former, typed at a login from now on are recorded under a
  // pseudonym, not as typed. The former ones can only be read now, while the key that sealed them still exists.
  // The row's id: canonical, as the history's aggregate ids are, whatever spelling the caller passed.
  // So is the username of an attempt on their account, or on one their record belonged to before, when no other
  // record of it is left to seal it under.
  const logins = await loginsHeld(tx, patient, masterKeys);
  const accounts = new Set(await accountsOfPatient(tx, patientId));
  if (patient.userId !== null) accounts.add(patient.userId);
  const loginHashes = await recordErasedLogins(
    tx,
    masterKeys,
    { ...logins, accounts: [...accounts] },
    erasedAt,
  );
  // Responses kept for Idempotency-Key retries name the patient whose data they hold (a registration's
  // answer holds it all), whether or not they quote the id; and a login attempt's, the logins it named, by
  // the same hashes, when it named none of theirs at the time (typed before the patient registered with it).
  // Their claims stay: a retry is refused, not redone.
  const storedResponses = await eraseKeptAnswers(tx, patientId, loginHashes);
  await destroyDataKey(tx, patientId, erasedAt);
  return {
    outcome: "erased",
    report: {
      patientId,
      erasedAt: erasedAt.toISOString(),
      removed: {
        patients: 1,
        appointments: appointmentRows.length,
        documents: documentRows.length,
        documentConsents: documentConsentRows.length,
        predictions: predictionRows.length,
        insights: insightRows.length,
        storedResponses,
        recordedNotifications: notificationRows.length,
      },
      documentFilesToDelete: documentRows.map((row) => row.storageUrl),
    },
  };
}

const FOREIGN_KEY_VIOLATION = "23503";

/**
 * A parent's delete, run again from a fresh snapshot when a foreign key refuses it: a row naming the patient
 * was added after this erasure's snapshot, which cannot see it to delete it first. Writes that add rows naming
 * a patient wait for the patient's lock, which the erasure holds; a consent given on one of their documents at
 * that moment does not (it is the document's), and is met here.
 */
async function freshOnForeignKey<T>(remove: () => Promise<T>): Promise<T> {
  try {
    return await remove();
  } catch (error) {
    for (let current: unknown = error; current instanceof Error; current = current.cause) {
      if ((current as { code?: string }).code === FOREIGN_KEY_VIOLATION) {
        throw new SnapshotConflict("a row naming the patient was added after the erasure began", {
          cause: error,
        });
      }
    }
    throw error;
  }
}

/**
 * The patient's current e-mail address and phone number and every one their history in the outbox holds (their
 * registration's, each change's), opened under their data key, addresses normalized as a login matches them,
 * each once. Fails closed: one that cannot be opened throws, and the erasure with it, rather than leave it to
 * come back in plain text after the key is gone. Events already archived out of the outbox are not read
 * (README.md).
 */
export async function loginsHeld(
  tx: WriteTransaction,
  patient: { id: string; email: string; phone: string },
  masterKeys: MasterKeys,
): Promise<Omit<ErasedLogins, "accounts">> {
  const emails = new Set([normalizedLogin(patient.email)]);
  const phones = new Set([patient.phone]);
  const sealed = await sealedLoginsOfPatient(tx, patient.id);
  if (sealed.length === 0) return { emails: [...emails], phones: [...phones] };
  const key = (await liveDataKeys(tx, [patient.id], masterKeys)).get(patient.id);
  if (key === undefined) throw new PatientKeyMissing(patient.id);
  for (const { eventId, path, value } of sealed) {
    let login: unknown;
    try {
      login = isSealed(value) ? openValue(key, value, `${eventId}/${path}`) : value;
    } catch (error) {
      if (!(error instanceof CiphertextRejected)) throw error;
      throw new FormerLoginUnreadable(patient.id, eventId, path, error);
    }
    if (typeof login !== "string") {
      throw new FormerLoginUnreadable(patient.id, eventId, path, new Error(`it holds a ${typeof login}`));
    }
    if (path.endsWith("email")) emails.add(normalizedLogin(login));
    else phones.add(login);
  }
  return { emails: [...emails], phones: [...phones] };
}

/**
 * An address or number in the patient's history does not open: the erasure is refused, and nothing of it is
 * done.
 */
export class FormerLoginUnreadable extends Error {
  constructor(
    readonly patientId: string,
    readonly eventId: string,
    readonly path: string,
    cause: Error,
  ) {
    super(
      `patient ${patientId} is not erased: the login (e-mail address or phone number) at data.${path} of event ` +
        `${eventId} in the outbox cannot be read under their data key (${cause.message}), and an erasure that ` +
        "did not record it would let a login typing it write it back in plain text",
      { cause },
    );
    this.name = "FormerLoginUnreadable";
  }
}

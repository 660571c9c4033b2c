// Former e-mail addresses and phone numbers changed before a change recorded them (migrations 0023 and 0024):
// found in each patient's history, opened under their data key, and recorded as a change records one now
// (db/erasedLogins.ts), so that a login attempt typing one is the patient's and sealed under their key, rather
// than kept in plain text past their erasure. `npm run phi:former-logins` runs it; a second run records nothing
// new.
import { eq, gt } from "drizzle-orm";
import { type Database, writeTransaction } from "../../db/client.ts";
import { recordFormerLogin, recordFormerPhone } from "../../db/erasedLogins.ts";
import { PatientKeyMissing } from "../../db/patientKeys.ts";
import { patients } from "../../db/schema.ts";
import { normalizedLogin } from "../../phi/erasedLoginPseudonym.ts";
import type { MasterKeys } from "../../phi/masterKeys.ts";
import { patientAggregate } from "../http/patientAccess.ts";
import { FormerLoginUnreadable, loginsHeld } from "./erasure.ts";

export interface FormerLoginsFound {
  /** Patients whose history was read. */
  patients: number;
  /** Former addresses and numbers found there, each recorded (once, whatever the runs). */
  formerLogins: number;
  /**
   * Patients whose history holds an address or number that does not open, or who have no data key to open it
   * with: nothing of theirs was recorded.
   */
  unreadable: Array<{ patientId: string; problem: string }>;
}

/** Patients read per page of ids; each is recorded in a transaction of its own. */
const PAGE = 500;

/**
 * Records, for every patient the platform holds (deleted ones too, not erased ones, whose rows are gone), each
 * address and number of their history that is not their current one. Each patient's in a transaction that
 * holds their aggregate's lock, as a change or an erasure of theirs does: one erased meanwhile is passed over.
 */
export async function recordFormerLoginsFromHistory(
  db: Database,
  masterKeys: MasterKeys,
): Promise<FormerLoginsFound> {
  const found: FormerLoginsFound = { patients: 0, formerLogins: 0, unreadable: [] };
  let after = "00000000-0000-0000-0000-000000000000";
  for (;;) {
    const page = await db
      .select({ id: patients.id })
      .from(patients)
      .where(gt(patients.id, after))
      .orderBy(patients.id)
      .limit(PAGE);
    for (const { id } of page) {
      try {
        const recorded = await recordFormerLoginsOf(db, masterKeys, id);
        if (recorded === null) continue;
        found.patients += 1;
        found.formerLogins += recorded;
      } catch (error) {
        const problem = unreadable(error);
        if (problem === null) throw error;
        found.patients += 1;
        found.unreadable.push({ patientId: id, problem });
      }
    }
    const last = page.at(-1);
    if (last === undefined) return found;
    after = last.id;
  }
}

/** How many former logins the patient's history holds, all now recorded; null when the patient is gone. */
async function recordFormerLoginsOf(
  db: Database,
  masterKeys: MasterKeys,
  patientId: string,
): Promise<number | null> {
  return writeTransaction(db, { lockAggregate: patientAggregate(patientId) }, async (tx) => {
    const [patient] = await tx
      .select({ id: patients.id, email: patients.email, phone: patients.phone })
      .from(patients)
      .where(eq(patients.id, patientId));
    if (!patient) return null;
    const held = await loginsHeld(tx, patient, masterKeys);
    const emails = held.emails.filter((email) => email !== normalizedLogin(patient.email));
    const phones = held.phones.filter((phone) => phone !== patient.phone);
    const now = new Date();
    for (const email of emails) await recordFormerLogin(tx, masterKeys, patientId, email, now);
    for (const phone of phones) await recordFormerPhone(tx, masterKeys, patientId, phone, now);
    return emails.length + phones.length;
  });
}

/** What keeps one patient's history from being read, in words naming no value; null for any other error. */
function unreadable(error: unknown): string | null {
  if (error instanceof FormerLoginUnreadable) {
    return `the e-mail address or phone number at data.${error.path} of event ${error.eventId} does not open under their data key`;
  }
  if (error instanceof PatientKeyMissing)
    return "their history holds sealed fields, and they have no data key";
  return null;
}

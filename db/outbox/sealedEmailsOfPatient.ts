// Every e-mail address a patient's record has held, as the outbox keeps them: sealed under their data key, one
// in their patient.created and one in each patient.updated that changed it. Read by their erasure
// (apps/patient/erasure.ts) before the key is destroyed. Rows already moved to archive files are not here.
import { connectionOf, type WriteTransaction } from "../client.ts";

export interface SealedEmail {
  eventId: string;
  /** Where the address is in the event's data: the path its seal is bound to (`<eventId>/<path>`). */
  path: "email" | "changes.email";
  /** As stored: a sealed string, unless a writer before sealing left it plain. */
  value: unknown;
}

// The patient's own aggregate (its index, and unlike patient_id filled on every row, old ones too), and of its
// events only those carrying an address: `changes` holds the changed fields only, so an update without an
// e-mail has no `email` key there, and its sealed fields are neither returned nor opened.
export const sealedEmailsQuery = `
SELECT event_id::text AS "eventId",
       CASE event_type WHEN 'patient.created' THEN 'email' ELSE 'changes.email' END AS path,
       CASE event_type WHEN 'patient.created' THEN payload -> 'data' -> 'email'
                       ELSE payload -> 'data' -> 'changes' -> 'email' END AS value
  FROM outbox
 WHERE aggregate_type = 'patient' AND aggregate_id = $1
   AND (event_type = 'patient.created'
        OR (event_type = 'patient.updated' AND payload -> 'data' -> 'changes' -> 'email' IS NOT NULL))
 ORDER BY tx_id, position`;

export async function sealedEmailsOfPatient(tx: WriteTransaction, patientId: string): Promise<SealedEmail[]> {
  const { rows } = await connectionOf(tx).query<SealedEmail>({
    name: "outbox.sealed-emails-of-patient.v1",
    text: sealedEmailsQuery,
    values: [patientId],
  });
  return rows;
}

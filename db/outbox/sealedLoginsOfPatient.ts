// Every e-mail address and phone number a patient's record has held, as the outbox keeps them: sealed under their
// data key, in their patient.created and in each patient.updated that changed them. Read by their erasure
// (apps/patient/erasure.ts) before the key is destroyed. Rows already moved to archive files are not here.
import { connectionOf, type WriteTransaction } from "../client.ts";

export interface SealedLogin {
  eventId: string;
  /** Where the address or number is in the event's data: the path its seal is bound to (`<eventId>/<path>`). */
  path: "email" | "changes.email" | "phone" | "changes.phone";
  /** As stored: a sealed string, unless a writer before sealing left it plain. */
  value: unknown;
}

// The patient's own aggregate (its index, and unlike patient_id filled on every row, old ones too), and of its
// events only those carrying an address or number: `changes` holds the changed fields only, so an update of
// other fields has neither key there, and its sealed fields are neither returned nor opened.
export const sealedLoginsQuery = `
SELECT event_id::text AS "eventId", login.path, login.value
  FROM outbox
 CROSS JOIN LATERAL (VALUES
       ('email', CASE event_type WHEN 'patient.created' THEN payload -> 'data' -> 'email' END),
       ('phone', CASE event_type WHEN 'patient.created' THEN payload -> 'data' -> 'phone' END),
       ('changes.email', CASE event_type WHEN 'patient.updated' THEN payload -> 'data' -> 'changes' -> 'email' END),
       ('changes.phone', CASE event_type WHEN 'patient.updated' THEN payload -> 'data' -> 'changes' -> 'phone' END)
     ) AS login(path, value)
 WHERE aggregate_type = 'patient' AND aggregate_id = $1
   AND event_type IN ('patient.created', 'patient.updated')
   AND login.value IS NOT NULL
 ORDER BY tx_id, position`;

export async function sealedLoginsOfPatient(tx: WriteTransaction, patientId: string): Promise<SealedLogin[]> {
  const { rows } = await connectionOf(tx).query<SealedLogin>({
    name: "outbox.sealed-logins-of-patient.v1",
    text: sealedLoginsQuery,
    values: [patientId],
  });
  return rows;
}

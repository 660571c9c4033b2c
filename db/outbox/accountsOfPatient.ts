// Every login (user id) a patient's record has belonged to, as the outbox keeps them: in their patient.created and
// in each patient.updated that moved the record to another login (an admin's change). Plain ids, not personal
// fields. Read by their erasure (apps/patient/erasure.ts), so that an attempt on any of those accounts after it,
// when no record of the account is left, is recorded under a pseudonym. Rows already archived are not here.
import { connectionOf, type WriteTransaction } from "../client.ts";

export async function accountsOfPatient(tx: WriteTransaction, patientId: string): Promise<string[]> {
  const { rows } = await connectionOf(tx).query<{ account: string }>({
    name: "outbox.accounts-of-patient.v1",
    text: `SELECT DISTINCT lower(login.account) AS account
             FROM outbox
            CROSS JOIN LATERAL (VALUES (CASE event_type
                    WHEN 'patient.created' THEN payload -> 'data' ->> 'userId'
                    ELSE payload -> 'data' -> 'changes' ->> 'userId' END)) AS login(account)
            WHERE aggregate_type = 'patient' AND aggregate_id = $1
              AND event_type IN ('patient.created', 'patient.updated')
              AND login.account IS NOT NULL`,
    values: [patientId],
  });
  return rows.map((row) => row.account);
}

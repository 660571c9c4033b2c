// The statement that gets patients' data keys for writing in one round trip: the rows that exist, and the
// candidate keys inserted for the patients who have none. A named (prepared) statement.
import type pg from "pg";

export interface KeyCandidate {
  patientId: string;
  masterKeyId: string;
  wrappedKey: Buffer;
}

export interface KeyRowRead {
  patientId: string;
  masterKeyId: string | null;
  wrappedKey: Buffer | null;
  /** Inserted by this statement (the candidate), rather than found. */
  made: boolean;
}

// Both parts see the statement's snapshot: the SELECT finds the rows that were there, the INSERT adds the
// others (a conflicting row is one the SELECT found, or a concurrent writer's, which REPEATABLE READ reports
// as a serialization failure). An erased row is found, never replaced: it has no key to give.
const text = `
WITH made AS (
  INSERT INTO patient_keys (patient_id, master_key_id, wrapped_key)
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[])
  ON CONFLICT (patient_id) DO NOTHING
  RETURNING patient_id, master_key_id, wrapped_key
)
SELECT patient_id, master_key_id, wrapped_key, true AS made FROM made
UNION ALL
SELECT patient_id, master_key_id, wrapped_key, false AS made FROM patient_keys WHERE patient_id = ANY($1::uuid[])`;

export async function readOrMakeKeys(
  client: pg.ClientBase,
  candidates: readonly KeyCandidate[],
): Promise<KeyRowRead[]> {
  const { rows } = await client.query<{
    patient_id: string;
    master_key_id: string | null;
    wrapped_key: Buffer | null;
    made: boolean;
  }>({
    name: "patient-keys.read-or-make.v1",
    text,
    values: [
      candidates.map((candidate) => candidate.patientId),
      candidates.map((candidate) => candidate.masterKeyId),
      candidates.map((candidate) => candidate.wrappedKey),
    ],
  });
  return rows.map((row) => ({
    patientId: row.patient_id,
    masterKeyId: row.master_key_id,
    wrappedKey: row.wrapped_key,
    made: row.made,
  }));
}

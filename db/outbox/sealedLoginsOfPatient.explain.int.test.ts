// An erasure's read of the patient's former addresses and numbers costs their own events, not the history's: it
// reads the patient's aggregate off its index, never by a Seq Scan, however long the history and however many
// updates other patients have. The large history is made in a transaction that is rolled back.
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../test/fixtures.ts";
import { explainPlan } from "../../test/queryPlan.ts";
import { sealedLoginsQuery } from "./sealedLoginsOfPatient.ts";

const HISTORY_ROWS = 100_000;
const PATIENTS = 5_000;
const db = testDatabase();
afterAll(() => db.$client.end());

describe("the erasure's query for a patient's sealed e-mail addresses and phone numbers", () => {
  it(`reads the patient's own events off an index over a ${HISTORY_ROWS.toLocaleString("en")}-row history`, async () => {
    const client = await db.$client.connect();
    try {
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                             message_key, payload, correlation_id, hash)
         SELECT gen_random_uuid(), CASE WHEN i <= $2::int THEN 'patient.created' ELSE 'patient.updated' END,
                'patient', 'explain-' || (i % $2::int), i, 'patient-events', 'explain-' || (i % $2::int),
                CASE WHEN i % 10 = 0 THEN '{"data":{"changes":{"email":"enc:v1:x"}}}'
                     WHEN i % 10 = 1 THEN '{"data":{"changes":{"phone":"enc:v1:x"}}}'
                     ELSE '{"data":{"changes":{"allergies":"enc:v1:x"}}}' END::json,
                gen_random_uuid(), '\\x00'::bytea
           FROM generate_series(1, $1::int) AS i`,
        [HISTORY_ROWS, PATIENTS],
      );
      await client.query("ANALYZE outbox");
      const plan = await explainPlan(client, sealedLoginsQuery, ["explain-42"]);
      expect(plan.nodeTypes, plan.text).not.toContain("Seq Scan");
      expect(
        plan.indexes.some((index) => index.startsWith("outbox_aggregate_")),
        plan.text,
      ).toBe(true);
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });
});

// A login attempt typing a phone number costs a few index probes, not a read of every patient: the typed
// number's endings are ranges of patients_phone_digits_reversed, whether typed with its country code or without,
// planned for the values (an unnamed statement) or generically (the prepared statement the route runs, after its
// fifth execution). The patients are made in a transaction that is rolled back.
import { afterAll, describe, expect, it } from "vitest";
import { typedPhone } from "../phi/loginPhone.ts";
import { testDatabase } from "../test/fixtures.ts";
import { explainPlan } from "../test/queryPlan.ts";
import { patientWithPhoneQuery, patientWithPhoneValues } from "./patientWithPhone.ts";

const PATIENTS = 20_000;
const db = testDatabase();
afterAll(() => db.$client.end());

describe("the login attempts' query for the patient with a phone number", () => {
  it(`reads patients_phone_digits_reversed, never every one of ${PATIENTS.toLocaleString("en")} patients`, async () => {
    const client = await db.$client.connect();
    try {
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO patients (id, first_name, last_name, date_of_birth, email, phone)
         SELECT gen_random_uuid(), 'Ada', 'Lovelace', '1985-12-10', 'explain.' || i || '@example.org',
                '+4930' || lpad((i * 7919 % 100000000)::text, 8, '0')
           FROM generate_series(1, $1::int) AS i`,
        [PATIENTS],
      );
      await client.query("ANALYZE patients");
      for (const typed of ["+49 30 1234 5678", "(030) 1234-5678"]) {
        const phone = typedPhone(typed);
        if (phone === null) throw new Error(`${typed} is a phone number`);
        const values = patientWithPhoneValues(phone);
        const custom = await explainPlan(client, patientWithPhoneQuery, values);
        await client.query("SET LOCAL plan_cache_mode = force_generic_plan");
        await client.query(`PREPARE with_phone AS ${patientWithPhoneQuery}`);
        // EXECUTE takes no bind parameters: the values written out (digits only).
        const [endings, countryCodeDigits] = values;
        const written = `ARRAY[${endings.map((ending) => `'${ending}'`).join(", ")}]::text[], ${countryCodeDigits}`;
        const generic = await explainPlan(client, `EXECUTE with_phone(${written})`, []);
        await client.query("DEALLOCATE with_phone");
        await client.query("RESET plan_cache_mode");
        for (const plan of [custom, generic]) {
          expect(plan.nodeTypes, `${typed}: ${plan.text}`).not.toContain("Seq Scan");
          expect(plan.indexes, `${typed}: ${plan.text}`).toContain("patients_phone_digits_reversed");
        }
      }
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });
});

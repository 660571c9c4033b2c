// A patient's history, a user's, a request's (correlation id), an aggregate's and an event type's must be
// read off their indexes as the outbox grows, never by a Seq Scan; and a long one (where a sort would hurt)
// as a range in (tx_id, position) order, with no Sort. The large history is made in a transaction that is
// rolled back.
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../../test/fixtures.ts";
import { explainPlan } from "../../../test/queryPlan.ts";
import { historyPageQuery, START_OF_HISTORY } from "./historyPage.ts";

const HISTORY_ROWS = 300_000;
const db = testDatabase();
afterAll(() => db.$client.end());

describe("the auditors' history query", () => {
  it(`reads a patient's, a user's, a request's, an aggregate's or an event type's history off its index (a long one with no sort) over a ${HISTORY_ROWS.toLocaleString("en")}-row history`, async () => {
    const client = await db.$client.connect();
    try {
      await client.query("BEGIN");
      // 5,000 patients and as many users with ~50 events each, interleaved as a busy platform writes them, and
      // one patient and one user with 2% of all events each (6,000).
      await client.query(
        `INSERT INTO outbox (tx_id, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                             message_key, payload, correlation_id, hash, patient_id)
         SELECT (1000 + i / 4)::text::xid8, gen_random_uuid(),
                CASE WHEN i % 100 = 0 THEN 'patient.consent.changed' ELSE 'patient.updated' END,
                'patient', (i % 5000)::text,
                i, 'patient-events', (i % 5000)::text,
                json_build_object('metadata', json_build_object('userId',
                  CASE WHEN i % 50 = 0 THEN md5('user-heavy') ELSE md5('user' || (i % 5000)) END::uuid)),
                md5('request' || (i % 100000))::uuid, '\\x00'::bytea,
                CASE WHEN i % 50 = 0 THEN md5('heavy') ELSE md5((i % 5000)::text) END::uuid
           FROM generate_series(1, $1::int) AS i`,
        [HISTORY_ROWS],
      );
      await client.query("ANALYZE outbox");
      const uuidOf = async (text: string) =>
        (await client.query<{ id: string }>(`SELECT md5($1)::uuid::text AS id`, [text])).rows[0]?.id;
      const cases = [
        { filter: { patientId: await uuidOf("42") }, index: "outbox_patient_history", long: false },
        {
          filter: { patientId: await uuidOf("42"), eventType: "patient.updated" },
          index: "outbox_patient_history",
          long: false,
        },
        { filter: { userId: await uuidOf("user42") }, index: "outbox_user_history", long: false },
        { filter: { patientId: await uuidOf("heavy") }, index: "outbox_patient_history", long: true },
        {
          filter: { correlationId: await uuidOf("request42") },
          index: "outbox_correlation_history",
          long: false,
        },
        { filter: { eventType: "patient.consent.changed" }, index: "outbox_event_type_history", long: true },
        {
          filter: { aggregateType: "patient", aggregateId: "42" },
          index: "outbox_aggregate_history",
          long: false,
        },
        { filter: { userId: await uuidOf("user-heavy") }, index: "outbox_user_history", long: true },
      ];
      for (const { filter, index, long } of cases) {
        for (const after of [START_OF_HISTORY, { txId: String(1000 + HISTORY_ROWS / 8), position: "0" }]) {
          const { text, values } = historyPageQuery(filter, after, 100);
          const plan = await explainPlan(client, text, values);
          const where = `${JSON.stringify(filter)} after ${after.txId}`;
          expect(plan.nodeTypes, where).not.toContain("Seq Scan");
          // A short history may be fetched by a bitmap scan and its few rows sorted; a long one must not be.
          if (long) expect(plan.nodeTypes, where).not.toContain("Sort");
          expect(plan.indexes, `${where}: ${plan.text}`).toContain(index);
        }
      }
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });
});

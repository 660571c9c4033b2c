// A patient's history, a user's, a request's, an aggregate's, an event type's and the whole history must be
// read off their own index as the outbox grows, as a range in (tx_id, position) order: never by a Seq Scan,
// never sorted (a long history sorted would be read whole for each page), whatever sample ANALYZE took. The
// large history is made in a transaction that is rolled back.
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../../test/fixtures.ts";
import { explainPlan } from "../../../test/queryPlan.ts";
import { historyPageQuery, prepareHistoryPage, START_OF_HISTORY } from "./historyPage.ts";

const HISTORY_ROWS = 300_000;
const FIRST_TX = 1000;
const LAST_TX = FIRST_TX + HISTORY_ROWS / 4;
const db = testDatabase();
afterAll(() => db.$client.end());

describe("the auditors' history query", () => {
  it(`reads a patient's, a user's, a request's, an aggregate's, an event type's or the whole history in order off its index, with no sort, over a ${HISTORY_ROWS.toLocaleString("en")}-row history`, async () => {
    // The history must lie below the snapshot horizon, as a real one does: else the planner expects no row
    // at all and any plan will do. A young cluster (a fresh machine's PostgreSQL) has not used that many
    // transaction ids yet: use them up, each its own empty transaction, without waiting for a disk flush.
    await db.$client.query(`DO $$ BEGIN
      WHILE pg_current_xact_id() <= '${LAST_TX}'::xid8 LOOP
        PERFORM set_config('synchronous_commit', 'off', true);
        COMMIT;
      END LOOP;
    END $$`);
    const client = await db.$client.connect();
    try {
      await client.query("BEGIN");
      // 5,000 patients and as many users with ~50 events each, interleaved as a busy platform writes them, and
      // one patient and one user with 2% of all events each (6,000).
      await client.query(
        `INSERT INTO outbox (tx_id, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                             message_key, payload, correlation_id, hash, patient_id)
         SELECT ($2::int + i / 4)::text::xid8, gen_random_uuid(),
                CASE WHEN i % 100 = 0 THEN 'patient.consent.changed' ELSE 'patient.updated' END,
                'patient', (i % 5000)::text,
                i, 'patient-events', (i % 5000)::text,
                json_build_object('metadata', json_build_object('userId',
                  CASE WHEN i % 50 = 0 THEN md5('user-heavy') ELSE md5('user' || (i % 5000)) END::uuid)),
                md5('request' || (i % 100000))::uuid, '\\x00'::bytea,
                CASE WHEN i % 50 = 0 THEN md5('heavy') ELSE md5((i % 5000)::text) END::uuid
           FROM generate_series(1, $1::int) AS i`,
        [HISTORY_ROWS, FIRST_TX],
      );
      const horizon = await client.query<{ xmin: string }>(
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin",
      );
      // A transaction that began before the ids were used up (none should be running) would hold it down.
      expect(BigInt(horizon.rows[0]?.xmin ?? 0), "the snapshot horizon").toBeGreaterThan(BigInt(LAST_TX));
      await client.query("ANALYZE outbox");
      const uuidOf = async (text: string) =>
        (await client.query<{ id: string }>(`SELECT md5($1)::uuid::text AS id`, [text])).rows[0]?.id;
      const cases = [
        { filter: { patientId: await uuidOf("42") }, index: "outbox_patient_history" },
        {
          filter: { patientId: await uuidOf("42"), eventType: "patient.updated" },
          index: "outbox_patient_history",
        },
        { filter: { userId: await uuidOf("user42") }, index: "outbox_user_history" },
        { filter: { patientId: await uuidOf("heavy") }, index: "outbox_patient_history" },
        {
          filter: { correlationId: await uuidOf("request42") },
          index: "outbox_correlation_history",
        },
        { filter: { eventType: "patient.consent.changed" }, index: "outbox_event_type_history" },
        {
          filter: { aggregateType: "patient", aggregateId: "42" },
          index: "outbox_aggregate_history",
        },
        { filter: { userId: await uuidOf("user-heavy") }, index: "outbox_user_history" },
        { filter: {}, index: "outbox_relay_order" },
      ];
      for (const { filter, index } of cases) {
        for (const after of [
          START_OF_HISTORY,
          { txId: String(FIRST_TX + HISTORY_ROWS / 8), position: "0" },
        ]) {
          const { text, values } = historyPageQuery(filter, after, 100);
          // As historyPage runs it: prepared in its own transaction, here a savepoint that takes the setting back.
          await client.query("SAVEPOINT page");
          await prepareHistoryPage(client, filter);
          const plan = await explainPlan(client, text, values);
          await client.query("ROLLBACK TO SAVEPOINT page");
          const where = `${JSON.stringify(filter)} after ${after.txId}: ${plan.text}`;
          expect(plan.nodeTypes, where).not.toContain("Seq Scan");
          expect(plan.nodeTypes, where).not.toContain("Sort");
          expect(plan.indexes, where).toContain(index);
        }
      }
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });
});

// A replay's page must be read off an index in (tx_id, position) order, never sorted and never by a Seq Scan,
// whatever the filter: otherwise each page of a long replay would read and sort all that is left of it. An
// aggregate, an event type and a request each read their own index; a topic, a position range and a time
// range read the relay's. The large history is made in a transaction that is rolled back.
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../test/fixtures.ts";
import { explainPlan } from "../../test/queryPlan.ts";
import { START_OF_HISTORY } from "./relayCheckpoint.ts";
import { type ReplayFilter, replayRowsQuery } from "./replayRows.ts";

const HISTORY_ROWS = 100_000;
const FIRST_TX = 1000;
const LAST_TX = FIRST_TX + HISTORY_ROWS / 4;
const db = testDatabase();
afterAll(() => db.$client.end());

describe("the replay's page query", () => {
  it(`reads every filter's rows in order off an index, with no sort, over a ${HISTORY_ROWS.toLocaleString("en")}-row history`, async () => {
    // The history must lie below the snapshot horizon, as a real one does (see apps/audit/sql/historyPage.int.test.ts).
    await db.$client.query(`DO $$ BEGIN
      WHILE pg_current_xact_id() <= '${LAST_TX}'::xid8 LOOP
        PERFORM set_config('synchronous_commit', 'off', true);
        COMMIT;
      END LOOP;
    END $$`);
    const client = await db.$client.connect();
    try {
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO outbox (tx_id, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                             message_key, payload, correlation_id, hash, created_at)
         SELECT ($2::int + i / 4)::text::xid8, gen_random_uuid(),
                CASE WHEN i % 100 = 0 THEN 'patient.consent.changed' ELSE 'patient.updated' END,
                'patient', (i % 5000)::text, i, 'patient-events', (i % 5000)::text, '{}'::json,
                md5('request' || (i % 20000))::uuid, '\\x00'::bytea,
                timestamptz '2026-01-01' + i * interval '1 second'
           FROM generate_series(1, $1::int) AS i`,
        [HISTORY_ROWS, FIRST_TX],
      );
      await client.query("ANALYZE outbox");
      const request = (await client.query<{ id: string }>(`SELECT md5('request42')::uuid::text AS id`))
        .rows[0]?.id;
      const through = { txId: String(LAST_TX), position: "9223372036854775807" };
      const cases: Array<{ filter: ReplayFilter; index: string }> = [
        { filter: { aggregate: { type: "patient", id: "42" } }, index: "outbox_aggregate_history" },
        { filter: { eventType: "patient.consent.changed" }, index: "outbox_event_type_history" },
        { filter: { correlationId: request as string }, index: "outbox_correlation_history" },
        { filter: { topic: "patient-events" }, index: "outbox_relay_order" },
        { filter: { fromPosition: "1000", toPosition: "5000" }, index: "outbox_relay_order" },
        {
          filter: { since: new Date("2026-01-01T01:00:00Z"), until: new Date("2026-01-01T02:00:00Z") },
          index: "outbox_relay_order",
        },
      ];
      for (const { filter, index } of cases) {
        for (const after of [
          START_OF_HISTORY,
          { txId: String(FIRST_TX + HISTORY_ROWS / 8), position: "0" },
        ]) {
          const { text, values } = replayRowsQuery(filter, after, through, 1000);
          // As replayRows runs it: sorting disabled for the page (here in a savepoint that takes it back).
          await client.query("SAVEPOINT page");
          await client.query("SET LOCAL enable_sort = off");
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

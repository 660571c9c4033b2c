// Every event's insert checks that no restored history lies ahead of the server (RestoredHistoryAhead). That
// check must be a step down an index, never a read of the outbox: on a large history a Seq Scan per write
// would cost more than the write. The large history is made in a transaction that is rolled back, and the plan
// is checked before the statistics know of it (a new database's) and after, as a custom and a generic plan.
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../test/fixtures.ts";
import { explainPlan } from "../../test/queryPlan.ts";
import { insertOutboxRowsSql } from "./insertOutboxRows.ts";

const HISTORY_ROWS = 100_000;
const db = testDatabase();
afterAll(() => db.$client.end());

describe("the outbox insert's check for a restored history", () => {
  it(`reads one index entry of the outbox and of the checkpoints, never the ${HISTORY_ROWS.toLocaleString("en")}-row history`, async () => {
    const client = await db.$client.connect();
    try {
      await client.query("BEGIN");
      // Rows of earlier transactions: ids below this one's, as a live history's are, however young the cluster.
      await client.query(
        `INSERT INTO outbox (tx_id, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                             message_key, payload, correlation_id, hash)
         SELECT (3 + (pg_current_xact_id()::text::bigint - 4) * i / $1)::text::xid8, gen_random_uuid(), 'patient.updated',
                'patient', (i % 5000)::text, i, 'patient-events', (i % 5000)::text, '{}'::json,
                gen_random_uuid(), '\\x00'::bytea
           FROM generate_series(1, $1::int) AS i`,
        [HISTORY_ROWS],
      );
      await client.query(`PREPARE insert_rows AS ${insertOutboxRowsSql}`);
      const noRows = Array.from({ length: 23 }, (_, n) => (n === 14 ? "now()" : "'{}'")).join(", ");
      for (const statistics of ["before ANALYZE", "after ANALYZE"]) {
        if (statistics === "after ANALYZE") await client.query("ANALYZE outbox");
        for (const plan of ["force_custom_plan", "force_generic_plan"]) {
          await client.query(`SET LOCAL plan_cache_mode = ${plan}`);
          const explained = await explainPlan(client, `EXECUTE insert_rows(${noRows})`, []);
          const where = `${statistics}, ${plan}: ${explained.text}`;
          const outboxReads = explained.nodes.filter(
            (node) => node["Relation Name"] === "outbox" && node["Node Type"] !== "ModifyTable",
          );
          expect(
            outboxReads.map((node) => node["Node Type"]),
            where,
          ).toEqual(["Index Only Scan"]);
          expect(outboxReads[0]?.["Index Name"], where).toBe("outbox_relay_order");
          // Both bounds in the index condition: entries below this transaction's id are never visited.
          expect(outboxReads[0]?.["Index Cond"], where).toMatch(/pg_current_xact_id\(\).*pg_snapshot_xmax/);
          expect(explained.indexes, where).toContain("outbox_checkpoints_pkey");
        }
      }
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });
});

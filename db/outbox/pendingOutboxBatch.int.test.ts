// The relay's hot query must stay an index range scan with no sort as the history grows: it reads the next
// batch straight off the (tx_id, position) index, wherever the cursor is, whatever the statistics say, and
// on every PostgreSQL the project runs on (CI checks it on the machine's 15 and the embedded 18).
// In a database of its own: its history, uncommitted for minutes, carries transaction ids above every writer's,
// and every outbox insert of the shared database would walk its 300,000 index entries (the check for a
// restored history, db/outbox/insertOutboxRows.ts, reads the entries above the writer's own id).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ownDatabase } from "../../test/ownDatabase.ts";
import { explainPlan } from "../../test/queryPlan.ts";
import { pendingOutboxBatchSql, preparePendingOutboxSession } from "./pendingOutboxBatch.ts";

const HISTORY_ROWS = 300_000;
const FIRST_TX = 1000;
const own = ownDatabase("pending_batch_plan");
beforeAll(() => own.setUp());
afterAll(() => own.tearDown());

/**
 * The history's transaction ids: in insert order, as one writer makes them, or scattered over the table, as
 * many concurrent writers (and a restored table) make them. Scattered ids make the planner expect the range
 * scan to jump around the heap, which is when PostgreSQL 18 prefers another index and a Sort.
 */
const histories = {
  "written in transaction order": `${FIRST_TX} + i / 4`,
  "scattered over the table": `${FIRST_TX} + ((i::bigint * 7919) % ${HISTORY_ROWS}) / 4`,
};

describe("the relay's pending-batch query", () => {
  for (const [history, txIdOf] of Object.entries(histories)) {
    it(`reads the next batch with an index scan and no sort over a ${HISTORY_ROWS.toLocaleString("en")}-row history ${history}`, async () => {
      const client = await own.db.$client.connect();
      try {
        await preparePendingOutboxSession(client);
        // The history is made inside a transaction that is rolled back, so no relay ever sees it. Its
        // transaction ids start far above any the server has used, so what earlier tests left (their rows
        // and the statistics over them) cannot fall inside it.
        await client.query("BEGIN");
        const { rows } = await client.query<{ base: string }>(
          "SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000000)::text AS base",
        );
        const base = BigInt(rows[0]?.base ?? "0");
        await client.query(
          `INSERT INTO outbox (tx_id, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                               message_key, payload, correlation_id, hash)
           SELECT ($2::bigint + ${txIdOf})::text::xid8, gen_random_uuid(), 'patient.updated', 'patient',
                  (i % 5000)::text, i, 'patient-events', (i % 5000)::text, '{"eventId":"x"}'::json,
                  gen_random_uuid(), '\\x00'::bytea
             FROM generate_series(1, $1::int) AS i`,
          [HISTORY_ROWS, String(base)],
        );
        await client.query("ANALYZE outbox");
        const lastTx = base + BigInt(FIRST_TX + HISTORY_ROWS / 4);
        // From the start, the middle, just before the end, and past the end (a caught-up relay).
        const cursors = [0n, base + BigInt(FIRST_TX + HISTORY_ROWS / 8), lastTx - 10n, lastTx + 10n];
        // The relay's statement is prepared once; after five runs PostgreSQL may plan it for any cursor.
        await client.query(`PREPARE pending_batch(xid8, bigint, int) AS ${pendingOutboxBatchSql}`);
        for (const plan of ["force_custom_plan", "force_generic_plan"]) {
          await client.query(`SET LOCAL plan_cache_mode = ${plan}`);
          for (const txId of cursors) {
            // EXPLAIN EXECUTE takes no bind parameters; the cursor is a number, safe to write in.
            const explained = await explainPlan(client, `EXECUTE pending_batch('${txId}', 0, 1000)`, []);
            const where = `${plan}, cursor (${txId}, 0): ${explained.text}`;
            expect(explained.nodeTypes, where).not.toContain("Sort");
            expect(explained.nodeTypes, where).not.toContain("Seq Scan");
            expect(explained.indexes, where).toEqual(["outbox_relay_order"]);
          }
        }
      } finally {
        await client.query("ROLLBACK");
        // Its settings and prepared statement must not go back to the pool.
        client.release(true);
      }
      // Writing 300,000 rows in scattered order into the outbox's indexes takes minutes on a busy machine.
    }, 600_000);
  }
});

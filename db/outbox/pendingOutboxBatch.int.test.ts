// The relay's hot query must stay an index range scan with no sort as the history grows: it reads the next
// batch straight off the (tx_id, position) index, wherever the cursor is.
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../test/fixtures.ts";
import { explainPlan } from "../../test/queryPlan.ts";
import { pendingOutboxBatchSql } from "./pendingOutboxBatch.ts";

const HISTORY_ROWS = 300_000;
const db = testDatabase();
afterAll(() => db.$client.end());

describe("the relay's pending-batch query", () => {
  it(`reads the next batch with an index scan and no sort over a ${HISTORY_ROWS.toLocaleString("en")}-row history`, async () => {
    const client = await db.$client.connect();
    try {
      // The history is made inside a transaction that is rolled back, so no relay ever sees it.
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO outbox (tx_id, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                             message_key, payload, correlation_id, hash)
         SELECT (1000 + i / 4)::text::xid8, gen_random_uuid(), 'patient.updated', 'patient', (i % 5000)::text,
                i, 'patient-events', (i % 5000)::text, '{"eventId":"x"}'::json, gen_random_uuid(), '\\x00'::bytea
           FROM generate_series(1, $1::int) AS i`,
        [HISTORY_ROWS],
      );
      await client.query("ANALYZE outbox");
      const cursors = [
        ["0", "0"],
        [String(1000 + HISTORY_ROWS / 8), "0"],
        [String(1000 + HISTORY_ROWS / 4 - 10), "0"],
      ];
      for (const [txId, position] of cursors) {
        const plan = await explainPlan(client, pendingOutboxBatchSql, [txId, position, 1000]);
        expect(plan.nodeTypes, `plan after cursor (${txId}, ${position})`).not.toContain("Sort");
        expect(plan.nodeTypes).not.toContain("Seq Scan");
        expect(plan.indexes, plan.text).toContain("outbox_relay_order");
      }
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });
});

// Archiving hashes the digests it is about to keep in event id order, through a cursor: the archived range is read
// once (down the history's (tx_id, position) index, or a scan of the table when the range is much of it) and
// sorted once, never found by walking the outbox's whole event_id index in order, the plan a cursor, planned to return its first rows fast, would otherwise take (it reads every
// row of the outbox to find the range's). Checked on a large history, in a transaction that is rolled back, before
// the statistics know of it and after.
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../test/fixtures.ts";
import { explainPlan } from "../test/queryPlan.ts";
import { digestsToKeepSql } from "./sql/archives.ts";

const ROWS = 20_000;
const db = testDatabase();
afterAll(() => db.$client.end());

describe("the digests archiving hashes", () => {
  it(`are read by the archived range and sorted by event id, among ${ROWS.toLocaleString("en")} rows`, async () => {
    const client = await db.$client.connect();
    try {
      await client.query("BEGIN");
      // Ten rows a transaction id, below any a real transaction of the test server has.
      await client.query(
        `INSERT INTO outbox (tx_id, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                             message_key, payload, correlation_id, hash)
         SELECT (i / 10 + 3)::text::xid8, gen_random_uuid(), 'patient.updated', 'patient', (i % 5000)::text, i,
                'patient-events', (i % 5000)::text, '{}'::json, gen_random_uuid(), '\\x00'::bytea
           FROM generate_series(1, $1::int) AS i`,
        [ROWS],
      );
      for (const statistics of ["before ANALYZE", "after ANALYZE"]) {
        if (statistics === "after ANALYZE") await client.query("ANALYZE outbox");
        // A quarter of them: an archive's range.
        const plan = await explainPlan(
          client,
          `DECLARE digests_explained NO SCROLL CURSOR FOR ${digestsToKeepSql}`,
          ["503", "0", String(503 + ROWS / 40), "0"],
        );
        expect(
          { top: plan.root["Node Type"], sortKey: plan.root["Sort Key"] },
          `${statistics}: ${plan.text}`,
        ).toEqual({ top: "Sort", sortKey: ["archived.event_id"] });
        // The range is read by the history's index or, when the statistics say it is much of the table (the
        // shared test database holds other files' rows too), by a scan of the table: either reads each row once.
        // No other index, the event_id one above all.
        const otherIndexes = plan.indexes.filter((name) => name !== "outbox_relay_order");
        expect(otherIndexes, `${statistics}: ${plan.text}`).toEqual([]);
      }
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });
});

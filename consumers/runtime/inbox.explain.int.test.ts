// The committed-event check is part of the statement each consumer sends for every record anyway: per record, one
// step down the outbox's unique event_id index, and one down outbox_archived_digests' primary key only when the
// outbox holds no row with that id (an archived event, or none). Checked on a large history and a large archive
// (made in a transaction that is rolled back, the digests written with the triggers off), before the statistics
// know of them and after, as a custom and a generic plan, for both statements that make the check: the
// transactional consumers' inbox INSERT and the external effects' question before their effect.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../test/fixtures.ts";
import { explainPlan } from "../../test/queryPlan.ts";
import { recordInInboxSql, verdictBeforeEffectSql } from "./inbox.ts";

const ROWS = 20_000;
const db = testDatabase();
afterAll(() => db.$client.end());

/** The plan's reads of the outbox and of the archived digests: node type, index, and how many times each ran. */
async function committedReads(client: pg.ClientBase, execute: string) {
  const plan = await explainPlan(client, execute, [], { analyze: true });
  const reads = plan.nodes.filter(
    (node) =>
      ["outbox", "outbox_archived_digests"].includes(node["Relation Name"] ?? "") &&
      node["Node Type"] !== "ModifyTable",
  );
  return {
    reads: reads.map((node) => [node["Node Type"], node["Index Name"], node["Actual Loops"]]),
    text: plan.text,
  };
}

const uuids = (ids: readonly string[]) => `ARRAY[${ids.map((id) => `'${id}'`).join(", ")}]::uuid[]`;

/** The inbox INSERT for these event ids (values that match nothing: it records none of them). */
function recordAll(consumer: string, ids: readonly string[]): string {
  const each = (value: string, type: string) => `array_fill(${value}::${type}, ARRAY[${ids.length}])`;
  return `EXECUTE record_in_inbox('${consumer}', ${uuids(ids)}, ${each("'patient.created'", "text")},
    ${each("'patient-events'", "text")}, ${each("0", "int")}, ${each("0", "bigint")}, ${each("'\\x00'", "bytea")})`;
}

describe("the committed-event check", () => {
  it(`probes the outbox by event id, and the archived digests only for an id the outbox does not hold, among ${ROWS.toLocaleString("en")} of each`, async () => {
    const client = await db.$client.connect();
    const consumer = `inbox-explain-${randomUUID()}`;
    try {
      await client.query("BEGIN");
      const { rows: held } = await client.query<{ eventId: string }>(
        `INSERT INTO outbox (tx_id, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, topic,
                             message_key, payload, correlation_id, hash)
         SELECT '3'::xid8, gen_random_uuid(), 'patient.updated', 'patient', (i % 5000)::text, i, 'patient-events',
                (i % 5000)::text, '{}'::json, gen_random_uuid(), '\\x00'::bytea
           FROM generate_series(1, $1::int) AS i
         RETURNING event_id::text AS "eventId"`,
        [ROWS],
      );
      // As archiving would leave them; its trigger takes digests only from an archiving transaction.
      await client.query("SET LOCAL session_replication_role = replica");
      const { rows: archived } = await client.query<{ eventId: string }>(
        `INSERT INTO outbox_archived_digests (event_id, payload_sha256)
         SELECT gen_random_uuid(), sha256(i::text::bytea) FROM generate_series(1, $1::int) AS i
         RETURNING event_id::text AS "eventId"`,
        [ROWS],
      );
      await client.query("SET LOCAL session_replication_role = origin");
      const inOutbox = held.slice(0, 3).map(({ eventId }) => eventId);
      const notInOutbox = [...archived.slice(0, 2).map(({ eventId }) => eventId), randomUUID()];
      await client.query(`PREPARE record_in_inbox AS ${recordInInboxSql}`);
      await client.query(`PREPARE verdict_before_effect AS ${verdictBeforeEffectSql}`);
      for (const statistics of ["before ANALYZE", "after ANALYZE"]) {
        if (statistics === "after ANALYZE") await client.query("ANALYZE outbox, outbox_archived_digests");
        for (const plan of ["force_custom_plan", "force_generic_plan"]) {
          await client.query(`SET LOCAL plan_cache_mode = ${plan}`);
          const asked: Array<[string, string[], number]> = [
            [recordAll(consumer, inOutbox), inOutbox, 0],
            [recordAll(consumer, notInOutbox), notInOutbox, 3],
            [recordAll(consumer, [...inOutbox, ...notInOutbox]), [...inOutbox, ...notInOutbox], 3],
            [
              `EXECUTE verdict_before_effect('${consumer}', '${inOutbox[0]}', 'patient-events')`,
              inOutbox.slice(0, 1),
              0,
            ],
            [
              `EXECUTE verdict_before_effect('${consumer}', '${notInOutbox[0]}', 'patient-events')`,
              notInOutbox.slice(0, 1),
              1,
            ],
          ];
          for (const [execute, ids, archivedProbes] of asked) {
            const { reads, text } = await committedReads(client, execute);
            expect(reads, `${statistics}, ${plan}, ${execute}: ${text}`).toEqual([
              ["Index Scan", "outbox_event_id", ids.length],
              ["Index Scan", "outbox_archived_digests_pkey", archivedProbes],
            ]);
          }
        }
      }
    } finally {
      await client.query("ROLLBACK");
      client.release();
    }
  });
});

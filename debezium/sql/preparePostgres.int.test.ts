// The publication Debezium reads through, made idempotently before each registration: exactly the outbox and
// the heartbeat table, inserts and updates only, whatever state an earlier run or a person left it in.
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { databaseUrl } from "../../test/fixtures.ts";
import { type DebeziumTarget, debeziumTarget } from "../connectorConfig.ts";
import { preparePostgres } from "./preparePostgres.ts";

// A publication of its own, so that this file never disturbs a connector's.
const target: DebeziumTarget = { ...debeziumTarget(databaseUrl()), publicationName: "prepare_postgres_test" };
const client = new pg.Client({ connectionString: databaseUrl() });

beforeAll(() => client.connect());
afterEach(() => client.query(`DROP PUBLICATION IF EXISTS ${target.publicationName}`));
afterAll(() => client.end());

async function publication() {
  const flags = await client.query<{ oid: number; actions: string }>(
    `SELECT oid::int AS oid,
            concat_ws(',', CASE WHEN pubinsert THEN 'insert' END, CASE WHEN pubupdate THEN 'update' END,
                      CASE WHEN pubdelete THEN 'delete' END, CASE WHEN pubtruncate THEN 'truncate' END) AS actions
       FROM pg_publication WHERE pubname = $1`,
    [target.publicationName],
  );
  const tables = await client.query<{ table: string }>(
    "SELECT schemaname || '.' || tablename AS table FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1",
    [target.publicationName],
  );
  const row = flags.rows[0];
  return row ? { ...row, tables: tables.rows.map((entry) => entry.table) } : undefined;
}

const expected = { actions: "insert,update", tables: ["public.debezium_heartbeat", "public.outbox"] };

describe("preparing Postgres for the Debezium connector", () => {
  it("creates the publication on exactly the outbox and the heartbeat table, for inserts and updates", async () => {
    await client.query(`DROP PUBLICATION IF EXISTS ${target.publicationName}`);
    await preparePostgres(client, target);
    expect(await publication()).toMatchObject(expected);
  });

  it("changes nothing when run again", async () => {
    await preparePostgres(client, target);
    const first = await publication();
    await preparePostgres(client, target);
    expect(await publication()).toEqual(first);
  });

  it("repairs a publication that drifted: another table in it, deletes and truncates published", async () => {
    await client.query(
      `CREATE PUBLICATION ${target.publicationName} FOR TABLE public.outbox, public.relay_checkpoints
         WITH (publish = 'insert, update, delete, truncate')`,
    );
    await preparePostgres(client, target);
    expect(await publication()).toMatchObject(expected);
  });

  it("lets two registrations prepare at once", async () => {
    const other = new pg.Client({ connectionString: databaseUrl() });
    await other.connect();
    try {
      await Promise.all([preparePostgres(client, target), preparePostgres(other, target)]);
    } finally {
      await other.end();
    }
    expect(await publication()).toMatchObject(expected);
  });
});

// What the connector needs in the database before it starts: logical WAL, and a publication holding exactly
// the outbox and the heartbeat table (a migration creates that table, db/schema.ts). The publication is named by
// the connector's target, so it is made here, not in a migration. Idempotent; run at every registration.
import type { ClientBase } from "pg";
import type { DebeziumTarget } from "../connectorConfig.ts";

/** Creates or repairs the publication. Throws with the fix when WAL is not logical. */
export async function preparePostgres(client: ClientBase, target: DebeziumTarget): Promise<void> {
  const walLevel = (await client.query<{ wal_level: string }>("SHOW wal_level")).rows[0]?.wal_level;
  if (walLevel !== "logical") {
    throw new Error(
      `Database ${target.database.name} runs with wal_level=${walLevel}, but Debezium reads the outbox through ` +
        "logical decoding: run ALTER SYSTEM SET wal_level = logical; and restart the server " +
        "(the machine's PostgreSQL 15: pg_ctlcluster 15 main restart; the project's own Postgres has it already).",
    );
  }
  const serverVersion = Number((await client.query<{ v: string }>("SHOW server_version_num")).rows[0]?.v);
  if (serverVersion < 150000) {
    // The handover exports a snapshot with CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export'), a PG 15 syntax,
    // and pgoutput skips empty transactions only from 15 on.
    throw new Error(
      `Debezium mode needs PostgreSQL 15 or newer; database ${target.database.name} runs ${serverVersion}`,
    );
  }

  // Registrations running at once would both find no publication and race to create it (a unique violation
  // on the catalog): one at a time, per publication.
  const lock = [target.publicationName];
  await client.query("SELECT pg_advisory_lock(hashtext('debezium-publication'), hashtext($1))", lock);
  try {
    await ensurePublication(client, target);
  } finally {
    await client.query("SELECT pg_advisory_unlock(hashtext('debezium-publication'), hashtext($1))", lock);
  }
}

async function ensurePublication(client: ClientBase, target: DebeziumTarget): Promise<void> {
  const tables = `public.outbox, public.${target.heartbeatTable}`;
  // Inserts for the outbox, updates for the heartbeat's upsert. The outbox refuses UPDATE, DELETE and
  // TRUNCATE anyway; leaving them out of the publication keeps them out of the WAL the connector decodes.
  const publish = "insert, update";
  const existing = await client.query<{
    pubinsert: boolean;
    pubupdate: boolean;
    pubdelete: boolean;
    pubtruncate: boolean;
  }>("SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = $1", [
    target.publicationName,
  ]);
  const publication = existing.rows[0];
  if (!publication) {
    await client.query(
      `CREATE PUBLICATION ${target.publicationName} FOR TABLE ${tables} WITH (publish = '${publish}')`,
    );
    return;
  }
  const published = await client.query<{ table: string }>(
    "SELECT schemaname || '.' || tablename AS table FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1",
    [target.publicationName],
  );
  const expected = ["public.outbox", `public.${target.heartbeatTable}`].sort();
  if (JSON.stringify(published.rows.map((row) => row.table)) !== JSON.stringify(expected)) {
    await client.query(`ALTER PUBLICATION ${target.publicationName} SET TABLE ${tables}`);
  }
  if (!publication.pubinsert || !publication.pubupdate || publication.pubdelete || publication.pubtruncate) {
    await client.query(`ALTER PUBLICATION ${target.publicationName} SET (publish = '${publish}')`);
  }
}

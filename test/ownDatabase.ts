// A migrated database of a test file's own, on the test server: for tests that need the outbox to themselves
// (no other file's relay publishing their rows, no other file's history in their way).
import { randomUUID } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { projectPath } from "../config/projectRoot.ts";
import { createDatabase, type Database } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { databaseUrl } from "./fixtures.ts";

/** The test server's URL for another database on it. */
export function urlOfDatabase(database: string): string {
  const url = new URL(databaseUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

/** Runs one statement on the test server (CREATE/DROP DATABASE cannot run in a transaction). */
export async function onTestServer(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  await client.query(statement).finally(() => client.end());
}

/** Applies the committed migrations up to the one numbered `last`, as a database not upgraded since had them. */
export async function migrateThrough(url: string, last: number): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), "migrations-"));
  const db = createDatabase(url, { max: 1, applicationName: "migrate-test" });
  try {
    await cp(projectPath("db", "migrations"), folder, { recursive: true });
    const journalFile = join(folder, "meta", "_journal.json");
    const journal = JSON.parse(await readFile(journalFile, "utf8")) as { entries: Array<{ idx: number }> };
    journal.entries = journal.entries.filter((entry) => entry.idx <= last);
    await writeFile(journalFile, JSON.stringify(journal));
    await migrate(db, { migrationsFolder: folder });
  } finally {
    await db.$client.end();
    await rm(folder, { recursive: true, force: true });
  }
}

/** Call `setUp` in beforeAll and `tearDown` in afterAll; `url` and `db` are valid between them. */
export function ownDatabase(prefix: string) {
  const name = `${prefix}_${randomUUID().slice(0, 8)}`;
  const url = urlOfDatabase(name);
  let db: Database | null = null;
  return {
    name,
    url,
    get db(): Database {
      if (!db) throw new Error(`${name}: setUp() has not run`);
      return db;
    },
    async setUp() {
      await onTestServer(`CREATE DATABASE ${name}`);
      await migrateDatabase(url);
      db = createDatabase(url, { max: 3, applicationName: "tests" });
    },
    async tearDown() {
      await db?.$client.end();
      await onTestServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

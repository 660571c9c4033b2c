// A migrated database of a test file's own, on the test server: for tests that need the outbox to themselves
// (no other file's relay publishing their rows, no other file's history in their way).
import { randomUUID } from "node:crypto";
import pg from "pg";
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

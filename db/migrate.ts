// Applies the committed drizzle-kit migrations; `npm run db:migrate`, and `npm start` before anything else.
import { pathToFileURL } from "node:url";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import { projectPath } from "../config/projectRoot.ts";
import { createDatabase } from "./client.ts";

const migrationsFolder = projectPath("db", "migrations");

export async function migrateDatabase(databaseUrl: string): Promise<void> {
  const db = createDatabase(databaseUrl, { max: 1, applicationName: "migrate" });
  try {
    // Concurrent starts (several services, tests in parallel) must not race each other's migrations.
    await db.$client.query("SELECT pg_advisory_lock(hashtext('healthcare-events:migrate'))");
    await migrate(db, { migrationsFolder });
  } finally {
    await db.$client.end();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { parseCommand } = await import("../cli/command.ts");
  parseCommand({
    usage: `usage: npm run db:migrate
  applies the committed migrations (db/migrations) to DATABASE_URL, or to the local Postgres, started if need be`,
  });
  const { loadEnv } = await import("../config/env.ts");
  const { databaseUrlOf } = await import("../stack/index.ts");
  const env = loadEnv();
  await migrateDatabase(await databaseUrlOf(env, (line) => console.log(line)));
  console.log("migrations applied");
}

// The reminder scheduler as a process of its own, without HTTP: `tsx apps/appointment/reminderScheduler.ts
// [--interval-ms 30000]`. Run as many as you like beside the services; each appointment is reminded once.
import { parseArgs } from "node:util";
import { ConfigError, loadEnv } from "../../config/env.ts";
import { createDatabase } from "../../db/client.ts";
import { createLogger } from "../../observability/logger.ts";
import { ensureStack } from "../../stack/index.ts";
import { startReminderScheduler } from "./reminders.ts";

const { values } = parseArgs({ options: { "interval-ms": { type: "string", default: "30000" } } });
const intervalMs = Number(values["interval-ms"]);
if (!Number.isInteger(intervalMs) || intervalMs < 10) {
  console.error("--interval-ms must be an integer of at least 10");
  process.exit(1);
}
let env: ReturnType<typeof loadEnv>;
try {
  env = loadEnv();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

const log = createLogger({ level: env.LOG_LEVEL, name: "reminder-scheduler" });
const stack = await ensureStack(env, (line) => log.info(line));
const db = createDatabase(stack.databaseUrl, { max: 2, applicationName: "reminder-scheduler" });
const scheduler = startReminderScheduler({ db, log, hoursBefore: env.REMINDER_HOURS_BEFORE, intervalMs });
log.info({ hoursBefore: env.REMINDER_HOURS_BEFORE, intervalMs }, "reminder scheduler running");

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, async () => {
    await scheduler.stop();
    await db.$client.end();
    await stack.stopStarted();
    process.exit(0);
  });
}

// The reminder scheduler as a process of its own, without HTTP: `tsx apps/appointment/reminderScheduler.ts
// [--interval-ms 30000]`. Run as many as you like beside the services; each appointment is reminded once.
import { parseArgs } from "node:util";
import { createDatabase } from "../../db/client.ts";
import { startProcess } from "../../process/frame.ts";
import { startReminderScheduler } from "./reminders.ts";

const { values } = parseArgs({ options: { "interval-ms": { type: "string", default: "30000" } } });
const intervalMs = Number(values["interval-ms"]);
if (!Number.isInteger(intervalMs) || intervalMs < 10) {
  console.error("--interval-ms must be an integer of at least 10");
  process.exit(1);
}
const frame = await startProcess({ name: "reminder-scheduler" });
const { env, log, stack, masterKeys } = frame;
const db = createDatabase(stack.databaseUrl, { max: 2, applicationName: "reminder-scheduler" });
frame.onStop(() => db.$client.end());
const scheduler = startReminderScheduler({
  db,
  log,
  masterKeys,
  hoursBefore: env.REMINDER_HOURS_BEFORE,
  intervalMs,
});
frame.onStop(() => scheduler.stop());
log.info({ hoursBefore: env.REMINDER_HOURS_BEFORE, intervalMs }, "reminder scheduler running");

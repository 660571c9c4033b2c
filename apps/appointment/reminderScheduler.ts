// The reminder scheduler as a process of its own, without HTTP: `tsx apps/appointment/reminderScheduler.ts
// [--interval-ms 30000]`. Run as many as you like beside the services; each appointment is reminded once.
import { parseCommand } from "../../cli/command.ts";
import { createDatabase } from "../../db/client.ts";
import { startProcess } from "../../process/frame.ts";
import {
  DEFAULT_REMINDER_INTERVAL_MS,
  MAX_REMINDER_INTERVAL_MS,
  MIN_REMINDER_INTERVAL_MS,
  reminderIntervalOf,
} from "./reminderInterval.ts";
import { startReminderScheduler } from "./reminders.ts";

const { values, refuse } = parseCommand({
  usage: `usage: npx tsx apps/appointment/reminderScheduler.ts [--interval-ms <ms>]
  runs the appointment reminder scheduler alone (no HTTP) until Ctrl-C: every <ms> milliseconds it reminds
  the appointments due (REMINDER_HOURS_BEFORE hours away). Any number may run: each appointment is reminded once
  --interval-ms   a whole number of milliseconds, ${MIN_REMINDER_INTERVAL_MS} to ${MAX_REMINDER_INTERVAL_MS} (the longest a timer waits);
                  default ${DEFAULT_REMINDER_INTERVAL_MS}`,
  options: { "interval-ms": { type: "string", default: String(DEFAULT_REMINDER_INTERVAL_MS) } },
});
const interval = reminderIntervalOf(values["interval-ms"]);
const intervalMs = "problem" in interval ? refuse(interval.problem) : interval.intervalMs;
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

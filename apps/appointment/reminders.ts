// The reminder scheduler: once per appointment, when its start is `hoursBefore` hours away (24 by default,
// REMINDER_HOURS_BEFORE), it appends appointment.reminder and sets the appointment's `reminded_at` in one
// transaction. Any number of schedulers may run: each claims due appointments with FOR UPDATE SKIP LOCKED,
// and a claimed appointment is never due again once its transaction commits, so each is reminded exactly once.
import { randomUUID } from "node:crypto";
import { type Database, writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import type { Logger } from "../../observability/logger.ts";
import type { MasterKeys } from "../../phi/masterKeys.ts";
import {
  DEFAULT_REMINDER_INTERVAL_MS,
  MAX_REMINDER_INTERVAL_MS,
  MIN_REMINDER_INTERVAL_MS,
} from "./reminderInterval.ts";
import { APPOINTMENT_SERVICE } from "./routes.ts";
import { lockDueReminders, markReminded } from "./store.ts";

const HOUR_MS = 60 * 60 * 1000;
const BATCH_SIZE = 100;

/**
 * Reminds every appointment now due, a batch per transaction; returns how many it reminded. An appointment
 * booked less than `hoursBefore` ahead is reminded at once, with the hours left rounded up (at least 1): the
 * appointment is within that many hours, which is what the messages say.
 */
export async function sendDueReminders(
  db: Database,
  options: { hoursBefore: number; masterKeys: MasterKeys; now?: () => Date },
): Promise<number> {
  let reminded = 0;
  for (;;) {
    const count = await writeTransaction(db, async (tx) => {
      const now = options.now?.() ?? new Date();
      const due = await lockDueReminders(tx, {
        now,
        horizon: new Date(now.getTime() + options.hoursBefore * HOUR_MS),
        limit: BATCH_SIZE,
      });
      if (due.length === 0) return 0;
      await markReminded(
        tx,
        due.map((appointment) => appointment.id),
        now,
      );
      await appendEvents(
        tx,
        // Nobody asked for it: no user, session or client; a correlation id of its own per batch.
        {
          masterKeys: options.masterKeys,
          source: APPOINTMENT_SERVICE,
          metadata: {
            correlationId: randomUUID(),
            userId: null,
            ipAddress: null,
            userAgent: null,
            sessionId: null,
          },
        },
        due.map((appointment) => ({
          type: "appointment.reminder" as const,
          data: {
            appointmentId: appointment.id,
            patientId: appointment.patientId,
            scheduledAt: appointment.scheduledAt.toISOString(),
            hoursBefore: Math.min(
              options.hoursBefore,
              Math.max(1, Math.ceil((appointment.scheduledAt.getTime() - now.getTime()) / HOUR_MS)),
            ),
          },
        })),
      );
      return due.length;
    });
    reminded += count;
    if (count < BATCH_SIZE) return reminded;
  }
}

export interface ReminderScheduler {
  stop(): Promise<void>;
}

/** Runs `sendDueReminders` every `intervalMs` until stopped; a failed round is logged and retried next time. */
export function startReminderScheduler(options: {
  db: Database;
  hoursBefore: number;
  masterKeys: MasterKeys;
  log: Logger;
  intervalMs?: number;
}): ReminderScheduler {
  const intervalMs = options.intervalMs ?? DEFAULT_REMINDER_INTERVAL_MS;
  // A timer past its range fires at once: the rounds would run back to back.
  if (
    !Number.isInteger(intervalMs) ||
    intervalMs < MIN_REMINDER_INTERVAL_MS ||
    intervalMs > MAX_REMINDER_INTERVAL_MS
  )
    throw new RangeError(
      `a reminder interval must be ${MIN_REMINDER_INTERVAL_MS} to ${MAX_REMINDER_INTERVAL_MS} ms, not ${intervalMs}`,
    );
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> = Promise.resolve();

  const runRound = async () => {
    try {
      const count = await sendDueReminders(options.db, options);
      if (count > 0) options.log.info({ reminded: count }, "appointment reminders sent");
    } catch (error) {
      options.log.error(
        { err: { type: (error as Error).name, code: (error as { code?: string }).code } },
        "appointment reminder round failed; retrying next round",
      );
    }
    if (!stopped) timer = setTimeout(() => (round = runRound()), intervalMs);
  };
  round = runRound();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await round;
    },
  };
}

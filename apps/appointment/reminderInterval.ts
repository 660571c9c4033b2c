// How long a reminder scheduler waits between its rounds: `--interval-ms` of reminderScheduler.ts, read before
// anything starts, and the range startReminderScheduler holds it to.

export const DEFAULT_REMINDER_INTERVAL_MS = 30_000;
/** Below this, rounds would follow each other as fast as Postgres answers them. */
export const MIN_REMINDER_INTERVAL_MS = 10;
/**
 * setTimeout's longest delay (2^31-1 ms, under 25 days): Node fires a longer timer after 1 ms instead, which
 * would run the rounds back to back.
 */
export const MAX_REMINDER_INTERVAL_MS = 2 ** 31 - 1;

/**
 * The interval `--interval-ms` gives, or what is wrong with it. Decimal digits only: Number() would also take
 * "0x10" (16), "1e3" (1000) and " " (0), so that a typo became another interval.
 */
export function reminderIntervalOf(text: string): { intervalMs: number } | { problem: string } {
  const intervalMs = Number(text);
  if (!/^\d+$/.test(text) || intervalMs < MIN_REMINDER_INTERVAL_MS || intervalMs > MAX_REMINDER_INTERVAL_MS) {
    return {
      problem:
        `--interval-ms ${text}: must be a whole number of milliseconds, in decimal digits, from ` +
        `${MIN_REMINDER_INTERVAL_MS} to ${MAX_REMINDER_INTERVAL_MS} (the longest a timer waits, about 24.8 days)`,
    };
  }
  return { intervalMs };
}

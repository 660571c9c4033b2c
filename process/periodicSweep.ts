// Housekeeping that runs once at start and then every interval, so that a process restarted more often than
// its interval still runs it. Several processes may run the same sweep: the sweep itself must tolerate that
// (db/sweepAlone.ts lets one of them do each round).
import type { Logger } from "../observability/logger.ts";
import { type Repeating, repeatEvery } from "./repeating.ts";

/** `settled`: the round running now, or the last one (tests wait on it); `stop`: no more rounds. */
export type PeriodicSweep = Repeating;

export function startPeriodicSweep(options: {
  /** What it removes, for the log: `expired idempotency keys`. */
  what: string;
  everyMs: number;
  /** One round: how many rows it removed, or null when another process was sweeping. */
  sweep: () => Promise<number | null>;
  log: Logger;
}): PeriodicSweep {
  const { what, log } = options;
  // Rounds never overlap in one process: a slow one delays the next (process/repeating.ts).
  return repeatEvery(
    options.everyMs,
    async () => {
      try {
        const removed = await options.sweep();
        if (removed) log.info({ removed }, `${what} removed`);
      } catch (error) {
        log.warn({ err: error }, `removing ${what} failed; the next round tries again`);
      }
    },
    { atStart: true },
  );
}

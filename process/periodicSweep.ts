// Housekeeping that runs once at start and then every interval, so that a process restarted more often than
// its interval still runs it. Several processes may run the same sweep: the sweep itself must tolerate that
// (db/sweepAlone.ts lets one of them do each round).
import type { Logger } from "../observability/logger.ts";

export interface PeriodicSweep {
  /** The round running now, or the last one: resolves once it has ended (tests wait on it). */
  readonly settled: Promise<void>;
  /** No more rounds; waits for the one running. */
  stop(): Promise<void>;
}

export function startPeriodicSweep(options: {
  /** What it removes, for the log: `expired idempotency keys`. */
  what: string;
  everyMs: number;
  /** One round: how many rows it removed, or null when another process was sweeping. */
  sweep: () => Promise<number | null>;
  log: Logger;
}): PeriodicSweep {
  const { what, log } = options;
  let settled: Promise<void> = Promise.resolve();
  const round = () => {
    // Rounds never overlap in one process: a slow one delays the next.
    settled = settled.then(async () => {
      try {
        const removed = await options.sweep();
        if (removed) log.info({ removed }, `${what} removed`);
      } catch (error) {
        log.warn({ err: error }, `removing ${what} failed; the next round tries again`);
      }
    });
  };
  round();
  const timer = setInterval(round, options.everyMs);
  timer.unref();
  return {
    get settled() {
      return settled;
    },
    async stop() {
      clearInterval(timer);
      await settled;
    },
  };
}

// A task run on an interval, one run at a time: a tick that finds the last run still going is skipped, so a run
// slower than its interval (a long backlog, a lock another process holds) delays the next one instead of
// queueing one more run per tick, every one of which stopping would then wait for.

export interface Repeating {
  /** The run going now, or the last one: resolves once it has ended. */
  readonly settled: Promise<void>;
  /** No more runs; waits for the one going. */
  stop(): Promise<void>;
}

/**
 * Runs `task` every `everyMs`, and at once when `atStart` (a process restarted more often than its interval still
 * runs it). `task` reports its own failures: it must not reject.
 */
export function repeatEvery(
  everyMs: number,
  task: () => Promise<void>,
  options: { atStart?: boolean } = {},
): Repeating {
  let running: Promise<void> | undefined;
  let settled: Promise<void> = Promise.resolve();
  const tick = () => {
    if (running) return;
    running = task().finally(() => {
      running = undefined;
    });
    settled = running;
  };
  if (options.atStart) tick();
  const timer = setInterval(tick, everyMs);
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

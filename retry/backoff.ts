// The one backoff policy for everything that retries after a failure (the relay, write transactions, the
// Kafka Connect client, consumers): exponential growth, a cap, full jitter; and the abortable wait it paces.

export interface BackoffPolicy {
  /** The wait before attempt `attempt + 1`, after `attempt` (1, 2, ...) failed attempts. */
  delayMs(attempt: number): number;
}

export interface ExponentialBackoffOptions {
  /** The longest wait after the first failure; it doubles with each further one. */
  baseMs: number;
  /** No wait is longer than this, however many attempts failed. */
  capMs: number;
  /** No wait is shorter than this (0 by default), for a dependency that must not be hit again at once. */
  floorMs?: number;
  /** A number in [0, 1): `Math.random` unless a test pins it. */
  random?: () => number;
}

/**
 * Draws each wait uniformly between the floor and the ceiling, which doubles after each failure (base, 2×, 4×,
 * ... up to the cap): "full jitter", so that the many clients that failed on the same outage spread their
 * retries out instead of all coming back in the same instant.
 */
export function exponentialBackoff(options: ExponentialBackoffOptions): BackoffPolicy {
  const random = options.random ?? Math.random;
  return {
    delayMs(attempt) {
      const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
      const floor = Math.min(options.floorMs ?? 0, ceiling);
      return Math.round(floor + random() * (ceiling - floor));
    },
  };
}

/** Waits `ms`, or less when `signal` aborts (a stop, a wake-up): it resolves either way, never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

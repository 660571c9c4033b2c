// How long a consumer waits before retrying a record whose handler failed: exponential, capped, with jitter
// so that partitions failing on the same outage do not all retry in the same instant.

export interface BackoffPolicy {
  /** The wait before attempt `attempt + 1`, after `attempt` (1, 2, ...) failed attempts. */
  delayMs(attempt: number): number;
}

export interface ExponentialBackoffOptions {
  /** The nominal wait after the first failure. */
  initialMs: number;
  /** No wait is longer than this, however many attempts failed. */
  maxMs: number;
  /** A number in [0, 1): `Math.random` unless a test pins it. */
  random?: () => number;
}

/**
 * Doubles the nominal wait after each failure (initial, 2×, 4×, ... up to the cap) and draws the actual wait
 * between half the nominal and the nominal ("equal jitter"): spread out, but never a near-zero wait that
 * would hammer a dependency that has just failed.
 */
export function exponentialBackoff(options: ExponentialBackoffOptions): BackoffPolicy {
  const random = options.random ?? Math.random;
  return {
    delayMs(attempt) {
      const nominal = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, attempt - 1));
      return Math.round(nominal / 2 + random() * (nominal / 2));
    },
  };
}

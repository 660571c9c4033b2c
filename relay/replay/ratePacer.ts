// Holds a replay to at most N events per second: each send waits until the events before it are within the
// rate, so that by any time t no more than N·t events, plus the one send in hand, have gone out.

/**
 * The slowest rate a replay is held to: one event every 1000 s. A send waits up to 1/rate seconds, and a
 * timer longer than 2^31-1 ms (under 25 days, reached below 5e-7 events/s) fires after 1 ms instead, which
 * would turn the limit off; this minimum keeps every wait far inside what a timer holds.
 */
export const MIN_RATE_PER_SECOND = 0.001;

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface RatePacer {
  /** The most events one send may carry: a tenth of a second's worth, at least one. */
  readonly sendSize: number;
  /** Waits until `events` more may go out. */
  beforeSend(events: number): Promise<void>;
}

export function ratePacer(eventsPerSecond: number | null, clock: Clock = realClock): RatePacer {
  if (eventsPerSecond === null) return { sendSize: Number.POSITIVE_INFINITY, beforeSend: async () => {} };
  if (!(eventsPerSecond >= MIN_RATE_PER_SECOND))
    throw new RangeError(`a rate must be at least ${MIN_RATE_PER_SECOND} events/s, not ${eventsPerSecond}`);
  const started = clock.now();
  let sent = 0;
  return {
    sendSize: Math.max(1, Math.ceil(eventsPerSecond / 10)),
    async beforeSend(events) {
      // The events already sent are within the rate once this much time has passed since the start.
      const due = started + (sent / eventsPerSecond) * 1000;
      const wait = due - clock.now();
      if (wait > 0) await clock.sleep(wait);
      sent += events;
    },
  };
}

// The backoff as a specification: exponential growth to a cap, full jitter above an optional floor, and a wait
// that a stop cuts short.
import { describe, expect, it } from "vitest";
import { exponentialBackoff, sleep } from "./backoff.ts";

describe("exponential backoff", () => {
  it("doubles the longest wait after each failed attempt, up to the cap", () => {
    const highest = exponentialBackoff({ baseMs: 100, capMs: 1_000, random: () => 0.999999 });
    expect([1, 2, 3, 4, 5, 6].map((attempt) => highest.delayMs(attempt))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
  });

  it("draws each wait from zero up to that ceiling (full jitter)", () => {
    const lowest = exponentialBackoff({ baseMs: 100, capMs: 1_000, random: () => 0 });
    expect([1, 2, 3, 6].map((attempt) => lowest.delayMs(attempt))).toEqual([0, 0, 0, 0]);
    const middle = exponentialBackoff({ baseMs: 100, capMs: 1_000, random: () => 0.5 });
    expect([1, 2, 3, 6].map((attempt) => middle.delayMs(attempt))).toEqual([50, 100, 200, 500]);
    const jittered = exponentialBackoff({ baseMs: 100, capMs: 10_000 });
    for (let i = 0; i < 1_000; i++) {
      const delay = jittered.delayMs(3);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(400);
    }
  });

  it("never waits less than the floor, nor more than the ceiling when the floor is above it", () => {
    const lowest = exponentialBackoff({ baseMs: 100, capMs: 1_000, floorMs: 150, random: () => 0 });
    expect([1, 2, 3].map((attempt) => lowest.delayMs(attempt))).toEqual([100, 150, 150]);
    const highest = exponentialBackoff({ baseMs: 100, capMs: 1_000, floorMs: 150, random: () => 0.999999 });
    expect([1, 2, 3].map((attempt) => highest.delayMs(attempt))).toEqual([100, 200, 400]);
  });

  it("spreads the retries of clients that failed together", () => {
    const policy = exponentialBackoff({ baseMs: 1_000, capMs: 10_000 });
    const delays = new Set(Array.from({ length: 20 }, () => policy.delayMs(2)));
    expect(delays.size).toBeGreaterThan(10);
  });
});

describe("the wait between attempts", () => {
  it("ends as soon as its signal aborts, however long it was meant to be", async () => {
    const stop = new AbortController();
    const waiting = sleep(3_600_000, stop.signal);
    stop.abort();
    await expect(waiting).resolves.toBeUndefined();
  });

  it("does not wait at all once its signal has aborted", async () => {
    await expect(sleep(3_600_000, AbortSignal.abort())).resolves.toBeUndefined();
  });
});

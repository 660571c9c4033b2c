// The retry backoff as a specification: exponential growth, a cap, and jitter that never drops below half.
import { describe, expect, it } from "vitest";
import { exponentialBackoff } from "./backoffPolicy.ts";

describe("exponential backoff", () => {
  it("doubles the wait after each failed attempt, up to the cap", () => {
    const highest = exponentialBackoff({ initialMs: 100, maxMs: 1_000, random: () => 0.999999 });
    expect([1, 2, 3, 4, 5, 6].map((attempt) => highest.delayMs(attempt))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
  });

  it("draws each wait between half the nominal wait and the nominal wait", () => {
    const lowest = exponentialBackoff({ initialMs: 100, maxMs: 1_000, random: () => 0 });
    expect([1, 2, 3, 4, 5].map((attempt) => lowest.delayMs(attempt))).toEqual([50, 100, 200, 400, 500]);
    const jittered = exponentialBackoff({ initialMs: 100, maxMs: 10_000 });
    for (let i = 0; i < 1_000; i++) {
      const delay = jittered.delayMs(3);
      expect(delay).toBeGreaterThanOrEqual(200);
      expect(delay).toBeLessThanOrEqual(400);
    }
  });

  it("spreads the retries of records that failed together", () => {
    const policy = exponentialBackoff({ initialMs: 1_000, maxMs: 10_000 });
    const delays = new Set(Array.from({ length: 20 }, () => policy.delayMs(2)));
    expect(delays.size).toBeGreaterThan(10);
  });
});

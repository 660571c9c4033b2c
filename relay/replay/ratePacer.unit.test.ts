// The rate limit, on a clock the test moves: by any moment t of the replay, no more than rate·t events plus
// the send in hand have gone out, and none is held back longer than the rate needs.
import { describe, expect, it } from "vitest";
import { type Clock, MIN_RATE_PER_SECOND, ratePacer } from "./ratePacer.ts";

function fakeClock(): Clock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

describe("a replay's rate limit", () => {
  it("lets at most rate·t events out by each moment t, plus one send of a tenth of a second's worth", async () => {
    const clock = fakeClock();
    const pacer = ratePacer(50, clock);
    expect(pacer.sendSize).toBe(5);
    const sends: Array<{ at: number; sentBefore: number }> = [];
    let sent = 0;
    while (sent < 200) {
      await pacer.beforeSend(pacer.sendSize);
      sends.push({ at: clock.now(), sentBefore: sent });
      sent += pacer.sendSize;
    }
    for (const { at, sentBefore } of sends) {
      // What had gone out before this send is within the rate at the moment it starts.
      expect(sentBefore).toBeLessThanOrEqual((50 * at) / 1000 + 1e-9);
    }
    // 200 events at 50/s: the last send starts once the 195 before it are paid for, 3.9 s in.
    expect(clock.now()).toBeCloseTo(3900, 6);
  });

  it("sends one event at a time below 10 events per second, and never waits without a rate", async () => {
    const slow = ratePacer(2, fakeClock());
    expect(slow.sendSize).toBe(1);
    const clock = fakeClock();
    const unlimited = ratePacer(null, clock);
    for (let i = 0; i < 1000; i++) await unlimited.beforeSend(1000);
    expect(clock.slept).toEqual([]);
  });

  it("refuses a rate of 0 or less", () => {
    expect(() => ratePacer(0)).toThrow(RangeError);
    expect(() => ratePacer(-5)).toThrow(RangeError);
  });

  it("refuses a rate slower than it can time, and waits within a timer's reach at the slowest it takes", async () => {
    // At 1e-7 events/s a wait of 1e10 ms overflows setTimeout, which then fires after 1 ms: no limit at all.
    expect(() => ratePacer(1e-7)).toThrow(RangeError);
    expect(() => ratePacer(MIN_RATE_PER_SECOND / 2)).toThrow(RangeError);
    const clock = fakeClock();
    const slowest = ratePacer(MIN_RATE_PER_SECOND, clock);
    await slowest.beforeSend(1);
    await slowest.beforeSend(1);
    expect(clock.slept).toEqual([1_000_000]);
    expect(Math.max(...clock.slept)).toBeLessThanOrEqual(2 ** 31 - 1);
  });
});

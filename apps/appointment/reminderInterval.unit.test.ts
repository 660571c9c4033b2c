// `--interval-ms` takes a whole number of milliseconds in decimal digits, within what a timer can wait: "0x10"
// was taken as 16, and 10000000000 overflowed setTimeout, which then ran the rounds back to back.
import { describe, expect, it } from "vitest";
import type { Database } from "../../db/client.ts";
import { createLogger } from "../../observability/logger.ts";
import { parseMasterKeys } from "../../phi/masterKeys.ts";
import { MAX_REMINDER_INTERVAL_MS, reminderIntervalOf } from "./reminderInterval.ts";
import { startReminderScheduler } from "./reminders.ts";

describe("reading --interval-ms", () => {
  it("takes decimal whole numbers from 10 ms to setTimeout's longest delay", () => {
    expect(reminderIntervalOf("10")).toEqual({ intervalMs: 10 });
    expect(reminderIntervalOf("30000")).toEqual({ intervalMs: 30_000 });
    expect(reminderIntervalOf("2147483647")).toEqual({ intervalMs: 2 ** 31 - 1 });
    expect(MAX_REMINDER_INTERVAL_MS).toBe(2_147_483_647);
  });

  it("refuses another spelling of a number rather than read it as another interval", () => {
    for (const text of ["0x10", "0b11111", "1e3", "10.0", "+100", " 100", "100 ", "", "ten", "-100"]) {
      expect(reminderIntervalOf(text), JSON.stringify(text)).toEqual({
        problem: expect.stringMatching(/must be a whole number of milliseconds, in decimal digits/),
      });
    }
  });

  it("refuses an interval a timer cannot wait, or too short to be one", () => {
    for (const text of ["2147483648", "10000000000", "99999999999999999999999", "9", "0"]) {
      expect(reminderIntervalOf(text), text).toEqual({
        problem: `--interval-ms ${text}: must be a whole number of milliseconds, in decimal digits, from 10 to 2147483647 (the longest a timer waits, about 24.8 days)`,
      });
    }
  });
});

describe("starting a reminder scheduler", () => {
  it("refuses an interval a timer cannot wait before its first round, rather than run rounds back to back", () => {
    for (const intervalMs of [2 ** 31, 1e10, 9, 10.5, Number.NaN]) {
      expect(() =>
        startReminderScheduler({
          db: {} as Database,
          hoursBefore: 24,
          masterKeys: parseMasterKeys(`unit:${Buffer.alloc(32).toString("base64")}`),
          log: createLogger({ level: "silent" }),
          intervalMs,
        }),
      ).toThrow(RangeError);
    }
  });
});

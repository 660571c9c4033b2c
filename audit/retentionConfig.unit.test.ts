// AUDIT_RETENTION_DAYS, the history's retention before `npm run audit:archive` may move it out: six years
// unless set, and a bad value is refused at start with a message naming the variable.
import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_AUDIT_RETENTION_DAYS, loadEnv } from "../config/env.ts";

describe("AUDIT_RETENTION_DAYS", () => {
  it("is six years (2192 days) unless set", () => {
    expect(DEFAULT_AUDIT_RETENTION_DAYS).toBe(2192);
    expect(loadEnv({}).AUDIT_RETENTION_DAYS ?? DEFAULT_AUDIT_RETENTION_DAYS).toBe(2192);
    expect(loadEnv({ AUDIT_RETENTION_DAYS: "" }).AUDIT_RETENTION_DAYS).toBeUndefined();
  });

  it("takes a whole number of days", () => {
    expect(loadEnv({ AUDIT_RETENTION_DAYS: "3650" }).AUDIT_RETENTION_DAYS).toBe(3650);
  });

  it("refuses anything else, naming the variable and its value", () => {
    for (const [value, reason] of [
      ["six years", "must be a whole number of days"],
      ["1.5", "must be a whole number of days"],
      ["0", "must be at least 1 day"],
      ["-30", "must be a whole number of days"],
      ["0x1e", "must be a whole number of days"],
      ["1e1", "must be a whole number of days"],
      ["100000", "must be at most 36525 days (100 years)"],
    ]) {
      expect(() => loadEnv({ AUDIT_RETENTION_DAYS: value })).toThrow(ConfigError);
      expect(() => loadEnv({ AUDIT_RETENTION_DAYS: value })).toThrow(
        `AUDIT_RETENTION_DAYS="${value}": ${reason}`,
      );
    }
  });
});

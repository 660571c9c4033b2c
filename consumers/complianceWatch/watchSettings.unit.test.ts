// The watch's settings: thresholds and working hours from the environment, each bad one named.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../config/env.ts";
import { configProblems } from "../../test/configProblems.ts";
import { loadConsumersConfig } from "../config.ts";
import { complianceWatchConfig, isOutsideWorkingHours, workingHours } from "./watchSettings.ts";

describe("the compliance watch's settings", () => {
  it("default to 50 patients read, 10 decrypted, 5 refusals, 5 failed logins an hour, and no working hours", () => {
    expect(complianceWatchConfig(loadConsumersConfig({}))).toEqual({
      maxPatients: 50,
      maxPatientsDecrypted: 10,
      maxRefusals: 5,
      maxFailedLogins: 5,
      windowSeconds: 3600,
      workingHours: null,
    });
  });

  it("name each bad variable", () => {
    const load = () =>
      loadConsumersConfig({
        COMPLIANCE_MAX_PATIENTS: "many",
        COMPLIANCE_WORKING_HOURS: "9-17",
        COMPLIANCE_TIME_ZONE: "Mars/Olympus",
      });
    expect(load).toThrow(ConfigError);
    const message = (() => {
      try {
        load();
      } catch (error) {
        return String((error as Error).message);
      }
    })();
    expect(message).toContain("COMPLIANCE_MAX_PATIENTS");
    expect(message).toContain("COMPLIANCE_WORKING_HOURS");
    expect(message).toContain("COMPLIANCE_TIME_ZONE");
  });

  it("read thresholds in decimal digits only: a blank is not a threshold of 0, nor 0x10 one of 16", () => {
    for (const name of [
      "COMPLIANCE_MAX_PATIENTS",
      "COMPLIANCE_MAX_PATIENTS_DECRYPTED",
      "COMPLIANCE_WINDOW_MINUTES",
      "CONSUMER_CONCURRENCY",
    ]) {
      for (const value of [" ", "0x10", "1e2", "-1"]) {
        expect(() => loadConsumersConfig({ [name]: value }), `${name}=${value}`).toThrow(
          `${name}=${JSON.stringify(value)}:`,
        );
      }
    }
    expect(loadConsumersConfig({ COMPLIANCE_MAX_PATIENTS: "1", CONSUMER_CONCURRENCY: " 4" })).toMatchObject({
      COMPLIANCE_MAX_PATIENTS: 1,
      CONSUMER_CONCURRENCY: 4,
    });
  });

  it("refuse a threshold of 0, at which every principal's first event in a window would alert", () => {
    const thresholds = [
      "COMPLIANCE_MAX_PATIENTS",
      "COMPLIANCE_MAX_PATIENTS_DECRYPTED",
      "COMPLIANCE_MAX_REFUSALS",
      "COMPLIANCE_MAX_FAILED_LOGINS",
    ];
    expect(
      configProblems(loadConsumersConfig, Object.fromEntries(thresholds.map((name) => [name, "0"]))),
    ).toEqual(
      thresholds.map(
        (name) =>
          `${name}="0": must be at least 1 (at 0, every principal's first event in a window would alert)`,
      ),
    );
    expect(
      complianceWatchConfig(loadConsumersConfig(Object.fromEntries(thresholds.map((name) => [name, "1"])))),
    ).toMatchObject({ maxPatients: 1, maxPatientsDecrypted: 1, maxRefusals: 1, maxFailedLogins: 1 });
  });
});

describe("COMPLIANCE_WORKING_HOURS", () => {
  const problems = (value: string) =>
    configProblems(loadConsumersConfig, { COMPLIANCE_WORKING_HOURS: value });

  it("takes two times of day, and 24:00 as an end: the midnight that ends the day", () => {
    for (const [value, startMinute, endMinute] of [
      ["07:00-19:00", 420, 1140],
      ["00:00-23:59", 0, 1439],
      ["18:00-24:00", 1080, 1440],
      ["22:00-06:00", 1320, 360],
    ] as const) {
      const config = complianceWatchConfig(loadConsumersConfig({ COMPLIANCE_WORKING_HOURS: value }));
      expect(config.workingHours, value).toEqual({ startMinute, endMinute, timeZone: "UTC" });
    }
  });

  it("refuses a time that is no time of day, naming it", () => {
    expect(problems("07:00-24:59")).toEqual([
      'COMPLIANCE_WORKING_HOURS="07:00-24:59": ends at 24:59, which is no time of day (00:00 to 23:59, or 24:00 for the midnight that ends it)',
    ]);
    expect(problems("07:60-19:00")).toEqual([
      'COMPLIANCE_WORKING_HOURS="07:60-19:00": starts at 07:60, which is no time of day (00:00 to 23:59)',
    ]);
    expect(problems("24:00-06:00")).toEqual([
      'COMPLIANCE_WORKING_HOURS="24:00-06:00": starts at 24:00, which is no time of day (00:00 to 23:59)',
    ]);
    for (const value of ["07:00-25:00", "07:00-19:75", "99:00-19:00"]) {
      expect(problems(value), value).toEqual([expect.stringMatching(/which is no time of day/)]);
    }
    for (const value of ["7:00-19:00", "07:00 - 19:00", "07:00-19:00 ", "0700-1900", "07:00"]) {
      expect(problems(value), value).toEqual([
        `COMPLIANCE_WORKING_HOURS=${JSON.stringify(value)}: must be HH:MM-HH:MM, e.g. 07:00-19:00`,
      ]);
    }
  });

  it("refuses a window of no minute, where every read would alert, and one of the whole day, where none would", () => {
    for (const value of ["07:00-07:00", "00:00-00:00", "23:59-23:59"]) {
      expect(problems(value), value).toEqual([
        `COMPLIANCE_WORKING_HOURS="${value}": is an empty window: every read would be out of hours (unset it for no such rule)`,
      ]);
    }
    expect(problems("00:00-24:00")).toEqual([
      'COMPLIANCE_WORKING_HOURS="00:00-24:00": is the whole day: no read would be out of hours (unset it for no such rule)',
    ]);
  });
});

describe("working hours", () => {
  const office = workingHours("08:00-18:00", "Europe/Berlin");
  it("are read in their time zone, the start included and the end not", () => {
    // 07:00 UTC is 08:00 in Berlin in winter; 17:00 UTC is 18:00.
    expect(isOutsideWorkingHours(new Date("2026-01-12T07:00:00Z"), office)).toBe(false);
    expect(isOutsideWorkingHours(new Date("2026-01-12T06:59:00Z"), office)).toBe(true);
    expect(isOutsideWorkingHours(new Date("2026-01-12T16:59:00Z"), office)).toBe(false);
    expect(isOutsideWorkingHours(new Date("2026-01-12T17:00:00Z"), office)).toBe(true);
  });

  it("may span midnight: an end before the start is the next day's, the start included and the end not", () => {
    const night = workingHours("22:00-06:00", "UTC");
    expect(isOutsideWorkingHours(new Date("2026-01-12T21:59:00Z"), night)).toBe(true);
    expect(isOutsideWorkingHours(new Date("2026-01-12T22:00:00Z"), night)).toBe(false);
    expect(isOutsideWorkingHours(new Date("2026-01-12T23:30:00Z"), night)).toBe(false);
    expect(isOutsideWorkingHours(new Date("2026-01-13T00:00:00Z"), night)).toBe(false);
    expect(isOutsideWorkingHours(new Date("2026-01-12T05:59:00Z"), night)).toBe(false);
    expect(isOutsideWorkingHours(new Date("2026-01-12T06:00:00Z"), night)).toBe(true);
    expect(isOutsideWorkingHours(new Date("2026-01-12T12:00:00Z"), night)).toBe(true);
  });

  it("end at the day's last minute when they end at 24:00", () => {
    const evening = workingHours("18:00-24:00", "UTC");
    expect(isOutsideWorkingHours(new Date("2026-01-12T23:59:00Z"), evening)).toBe(false);
    expect(isOutsideWorkingHours(new Date("2026-01-13T00:00:00Z"), evening)).toBe(true);
    expect(isOutsideWorkingHours(new Date("2026-01-12T17:59:00Z"), evening)).toBe(true);
  });
});

// The watch's settings: thresholds and working hours from the environment, each bad one named.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../config/env.ts";
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
    expect(loadConsumersConfig({ COMPLIANCE_MAX_PATIENTS: "0", CONSUMER_CONCURRENCY: " 4" })).toMatchObject({
      COMPLIANCE_MAX_PATIENTS: 0,
      CONSUMER_CONCURRENCY: 4,
    });
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

  it("may span midnight", () => {
    const night = workingHours("22:00-06:00", "UTC");
    expect(isOutsideWorkingHours(new Date("2026-01-12T23:30:00Z"), night)).toBe(false);
    expect(isOutsideWorkingHours(new Date("2026-01-12T05:59:00Z"), night)).toBe(false);
    expect(isOutsideWorkingHours(new Date("2026-01-12T12:00:00Z"), night)).toBe(true);
  });
});

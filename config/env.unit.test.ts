import { describe, expect, it } from "vitest";
import { ConfigError, loadEnv } from "./env.ts";

describe("loadEnv", () => {
  it("applies the defaults and leaves the services unset when nothing is configured", () => {
    expect(loadEnv({})).toEqual({ PORT: 3000, RELAY_MODE: "polling", LOG_LEVEL: "info" });
  });

  it("splits KAFKA_BROKERS on commas and reads the rest", () => {
    expect(
      loadEnv({
        DATABASE_URL: "postgres://u:p@db:5432/x",
        KAFKA_BROKERS: "a:9092, b:9093",
        PORT: "8080",
        RELAY_MODE: "off",
        LOG_LEVEL: "debug",
      }),
    ).toEqual({
      DATABASE_URL: "postgres://u:p@db:5432/x",
      KAFKA_BROKERS: ["a:9092", "b:9093"],
      PORT: 8080,
      RELAY_MODE: "off",
      LOG_LEVEL: "debug",
    });
  });

  it("treats empty variables as unset", () => {
    expect(loadEnv({ DATABASE_URL: "", PORT: "" })).toEqual({
      PORT: 3000,
      RELAY_MODE: "polling",
      LOG_LEVEL: "info",
    });
  });

  it("names every bad variable, with its value, in one error", () => {
    const bad = { DATABASE_URL: "mysql://x", KAFKA_BROKERS: "localhost", PORT: "http", RELAY_MODE: "kafka" };
    let error: unknown;
    try {
      loadEnv(bad);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(4);
    for (const [name, value] of Object.entries(bad)) {
      expect(problems.some((problem) => problem.startsWith(`${name}=${JSON.stringify(value)}:`))).toBe(true);
    }
  });
});

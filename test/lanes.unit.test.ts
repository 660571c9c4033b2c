import { describe, expect, it } from "vitest";
import { laneEnvironment, testLaneCount } from "./lanes.ts";

describe("the test lanes", () => {
  it("are two on the project's own single-node stack, whether or not its variables are exported", () => {
    expect(testLaneCount({})).toBe(2);
    expect(testLaneCount({ KAFKA_PORT: "9392", KAFKA_BROKERS: "localhost:9392" })).toBe(2);
  });

  it("are one when the environment names services that cannot be doubled", () => {
    expect(testLaneCount({ DATABASE_URL: "postgres://postgres@127.0.0.1:5432/healthcare_ci" })).toBe(1);
    expect(testLaneCount({ KAFKA_BROKERS: "broker.example.org:9092" })).toBe(1);
    expect(testLaneCount({ KAFKA_BROKER_COUNT: "3" })).toBe(1);
  });

  it("are as many as TEST_LANES says, and a TEST_LANES out of range names itself", () => {
    expect(testLaneCount({ TEST_LANES: "1" })).toBe(1);
    expect(testLaneCount({ TEST_LANES: "3", DATABASE_URL: "postgres://127.0.0.1/x" })).toBe(3);
    for (const bad of ["0", "5", "two", "1.5"])
      expect(() => testLaneCount({ TEST_LANES: bad })).toThrow(
        `TEST_LANES=${bad}: must be a whole number from 1 to 4`,
      );
  });

  it("put lane n's services (n + 1) × 10 ports above the development stack's, which no test touches", () => {
    expect(laneEnvironment(0, {})).toEqual({
      POSTGRES_PORT: "5443",
      KAFKA_PORT: "9102",
      CONNECT_PORT: "8093",
      TEST_SECURE_KAFKA_PORT: "19092",
    });
    expect(laneEnvironment(1, {})).toEqual({
      POSTGRES_PORT: "5453",
      KAFKA_PORT: "9112",
      CONNECT_PORT: "8103",
      TEST_SECURE_KAFKA_PORT: "19102",
    });
    expect(
      laneEnvironment(1, {
        POSTGRES_PORT: "5563",
        KAFKA_PORT: "9392",
        CONNECT_PORT: "8393",
        KAFKA_BROKERS: "localhost:9392",
        KAFKA_CONNECT_URL: "http://127.0.0.1:8393",
      }),
    ).toEqual({
      POSTGRES_PORT: "5583",
      KAFKA_PORT: "9412",
      CONNECT_PORT: "8413",
      TEST_SECURE_KAFKA_PORT: "19102",
      KAFKA_BROKERS: "localhost:9412",
      KAFKA_CONNECT_URL: "http://127.0.0.1:8413",
    });
  });

  it("leave the services the environment names where they are", () => {
    const given = {
      DATABASE_URL: "postgres://postgres@127.0.0.1:5432/healthcare_ci",
      KAFKA_BROKERS: "broker.example.org:9092",
      KAFKA_CONNECT_URL: "http://connect.example.org:8083",
    };
    const lane = laneEnvironment(0, given);
    expect(lane).not.toHaveProperty("DATABASE_URL");
    expect(lane).not.toHaveProperty("KAFKA_BROKERS");
    expect(lane).not.toHaveProperty("KAFKA_CONNECT_URL");
  });
});

// A service run alone, its Postgres reachable and its Kafka not: it stops at start (its readiness reports Kafka,
// so it cannot serve without it) with one line naming KAFKA_BROKERS, exit code 1, no stack trace.
import { describe, expect, it } from "vitest";
import { commandOutcome, SERVICE_KEYS } from "../../test/commandOutcome.ts";
import { databaseUrl } from "../../test/fixtures.ts";

describe("a service run alone, Kafka unreachable", { timeout: 60_000 }, () => {
  it("names KAFKA_BROKERS in one line, exit code 1", async () => {
    // Kafka stays at the unreachable address commandOutcome gives; only Postgres is the test's.
    const outcome = await commandOutcome("apps/patient/main.ts", [], {
      ...SERVICE_KEYS,
      DATABASE_URL: databaseUrl(),
    });
    expect(outcome).toMatchObject({ code: 1, stdout: "" });
    expect(outcome.stderr).toBe(
      "Kafka cannot be reached at the brokers KAFKA_BROKERS names: Connection error: connect ECONNREFUSED 127.0.0.1:1\n",
    );
  });
});

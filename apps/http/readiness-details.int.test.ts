// /health/ready tells anyone whether each dependency is up or down, and only an operator (an admin or a
// service token) why: a driver's error can name hosts, users and addresses.
import { afterAll, describe, expect, it } from "vitest";
import type { Admin } from "../../kafka/client.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

const brokerError = "connect ECONNREFUSED 10.1.2.3:9092 as user relay-svc";
const app = testPlatform(db, {
  kafkaAdmin: {
    describeCluster: async () => {
      throw new Error(brokerError);
    },
  } as unknown as Admin,
});

async function readiness(headers: Record<string, string> = {}) {
  const response = await app.request("/health/ready", { headers });
  return { status: response.status, text: await response.text() };
}

describe("readiness details", () => {
  it("gives an unauthenticated caller up or down per dependency, and no error message", async () => {
    const { status, text } = await readiness();
    expect(status).toBe(503);
    expect(JSON.parse(text)).toEqual({
      status: "unavailable",
      checks: { postgres: { status: "up" }, kafka: { status: "down" } },
    });
    expect(text).not.toContain("10.1.2.3");
  });

  it("gives the same short answer to a refused token and to a role that does not run the platform", async () => {
    for (const headers of [
      { Authorization: "Bearer not.a.token" },
      (await caller("patient")).headers(),
      (await caller("auditor")).headers(),
    ]) {
      const { status, text } = await readiness(headers);
      expect(status).toBe(503);
      expect(JSON.parse(text).checks.kafka).toEqual({ status: "down" });
    }
  });

  it("tells an admin or a service why a dependency is down", async () => {
    for (const role of ["admin", "service"] as const) {
      const { status, text } = await readiness((await caller(role)).headers());
      expect(status).toBe(503);
      expect(JSON.parse(text).checks).toEqual({
        postgres: { status: "up" },
        kafka: { status: "down", error: brokerError },
      });
    }
  });
});

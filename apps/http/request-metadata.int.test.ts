// The metadata a request gives its events comes from headers the client controls: the user agent is trimmed and
// bounded (1,024 characters), and a blank one is no user agent, as in every other event's metadata.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

/** The user agent in the audit event of a provider's registration sent with `userAgent` (not about a patient: plain). */
async function recordedUserAgent(userAgent: string): Promise<unknown> {
  const admin = await caller("admin");
  const correlationId = randomUUID();
  const response = await app.request("/providers", {
    method: "POST",
    headers: admin.headers({
      "Content-Type": "application/json",
      "User-Agent": userAgent,
      "X-Correlation-Id": correlationId,
    }),
    body: JSON.stringify(requestBodies.provider({ email: `${randomUUID()}@example.org` })),
  });
  expect(response.status).toBe(201);
  const { rows } = await db.$client.query<{ user_agent: unknown }>(
    "SELECT payload -> 'metadata' -> 'userAgent' AS user_agent FROM outbox WHERE correlation_id = $1 AND event_type = 'audit.data.modified'",
    [correlationId],
  );
  expect(rows).toHaveLength(1);
  return rows[0]?.user_agent;
}

describe("the user agent in a request's events", () => {
  it("is cut at 1,024 characters", async () => {
    const long = `Mozilla/5.0 ${"x".repeat(5_000)}`;
    expect(await recordedUserAgent(long)).toBe(long.slice(0, 1_024));
    expect(await recordedUserAgent("curl/8.5.0")).toBe("curl/8.5.0");
  });

  it("is null when the header is blank", async () => {
    expect(await recordedUserAgent("   ")).toBeNull();
  });
});

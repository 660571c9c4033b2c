// No cache keeps an answer behind authentication: a patient's record, a page of the audit history, one event,
// an export, and the refusals too carry `Cache-Control: no-store` (and `X-Content-Type-Options: nosniff`), so
// that neither a proxy nor the browser that the auditors' console runs in writes personal data to its cache.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

let patientId: string;
let eventId: string;

beforeAll(async () => {
  const admin = await caller("admin");
  const created = await app.request("/patients", {
    method: "POST",
    headers: admin.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(newPatientBody()),
  });
  expect(created.status).toBe(201);
  patientId = ((await created.json()) as { id: string }).id;
  const [row] = (
    await db.$client.query("SELECT event_id FROM outbox WHERE aggregate_id = $1 ORDER BY position LIMIT 1", [
      patientId,
    ])
  ).rows;
  eventId = row.event_id;
});

async function answer(role: "admin" | "auditor" | "patient" | null, path: string) {
  const headers = role === null ? {} : (await caller(role)).headers();
  const response = await app.request(path, { headers });
  await response.arrayBuffer();
  return response;
}

describe("answers behind authentication", () => {
  const cases: [string, "admin" | "auditor" | "patient" | null, () => string, number][] = [
    ["a patient's record", "admin", () => `/patients/${patientId}`, 200],
    ["a page of the audit history", "auditor", () => `/audit/events?patientId=${patientId}`, 200],
    ["one event of the history", "auditor", () => `/audit/events/${eventId}`, 200],
    ["a CSV export", "auditor", () => `/audit/events/export?format=csv&patientId=${patientId}`, 200],
    ["an NDJSON export", "auditor", () => `/audit/events/export?patientId=${patientId}`, 200],
    ["a request without a token", null, () => "/audit/events", 401],
    ["another role's refused request", "patient", () => "/audit/events", 403],
    ["a route that does not exist", "auditor", () => "/audit/nothing-here", 404],
  ];
  for (const [what, role, path, status] of cases) {
    it(`are kept by no cache: ${what}`, async () => {
      const response = await answer(role, path());
      expect(response.status).toBe(status);
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    });
  }

  it("leave the public console its own caching: its files hold no data", async () => {
    const script = await answer(null, "/console/console.js");
    expect(script.status).toBe(200);
    expect(script.headers.get("cache-control")).toBe("no-cache");
    // The page is stored by no cache either: the address it is opened at may carry an identity provider's code.
    const page = await answer(null, "/console?code=from-the-provider&state=its-state");
    expect(page.status).toBe(200);
    expect(page.headers.get("cache-control")).toBe("no-store");
  });
});

// When Postgres cannot be reached, a request is refused with the 503 the document declares for every
// operation, a Retry-After and a problem body: the platform's fault is said to be temporary, never a 500.
import { afterAll, describe, expect, it } from "vitest";
import { createDatabase } from "../../db/client.ts";
import { newPatientBody } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

// Port 1 on the loopback: nothing listens, so every connection is refused at once.
const unreachable = createDatabase("postgres://postgres@127.0.0.1:1/nowhere", {
  max: 1,
  applicationName: "tests",
});
const app = testPlatform(unreachable);
afterAll(() => unreachable.$client.end());

describe("a request while the database cannot be reached", () => {
  it.each([
    ["GET", "/patients/3b241101-e2bb-4255-8caf-4136c566a962", undefined],
    ["POST", "/patients", newPatientBody()],
  ])("%s %s answers the declared 503 with Retry-After", async (method, path, body) => {
    const admin = await caller("admin");
    const response = await app.request(path, {
      method,
      headers: admin.headers(body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    expect(response.status).toBe(503);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await response.json()).toMatchObject({ status: 503, title: "Service Unavailable" });

    const document = (await (await app.request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, { headers?: object }> }>>;
    };
    const route = path.startsWith("/patients/") ? "/patients/{id}" : path;
    const declared = document.paths[route]?.[method.toLowerCase()]?.responses["503"];
    expect(declared?.headers).toHaveProperty("Retry-After");
  });
});

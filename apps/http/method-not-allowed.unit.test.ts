// A known path called with a method it does not take is a 405 with `Allow` naming the methods it does take;
// a path that no route serves stays a 404. (In-process requests go through fetch, which refuses TRACE; any
// other method a path does not take is answered the same way.)
import { describe, expect, it } from "vitest";
import type { Database } from "../../db/client.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

// Neither answer reaches a route, so no database is touched.
const app = testPlatform({} as Database);
const ANY_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

describe("a method a known path does not take", () => {
  it.each([
    ["PUT", "/documents", "POST"],
    ["GET", "/ai/models", "POST"],
    ["PUT", `/patients/${ANY_ID}`, "DELETE, GET, HEAD, PATCH"],
    ["DELETE", `/appointments/${ANY_ID}/cancel`, "POST"],
    ["POST", "/audit/events", "GET, HEAD"],
  ])("%s %s is a 405 problem with Allow: %s", async (method, path, allow) => {
    const admin = await caller("admin");
    const response = await app.request(path, { method, headers: admin.headers() });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe(allow);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(await response.json()).toMatchObject({ status: 405, title: "Method Not Allowed", instance: path });
  });

  it("an unknown path is a 404, whatever the method", async () => {
    const admin = await caller("admin");
    for (const method of ["GET", "PUT"]) {
      const response = await app.request("/no-such-thing", { method, headers: admin.headers() });
      expect(response.status, method).toBe(404);
      expect(response.headers.get("allow"), method).toBeNull();
    }
  });

  it("a known path with a trailing slash is unknown, whatever the method, as the router sees it", async () => {
    const admin = await caller("admin");
    for (const [method, path] of [
      ["GET", "/patients/"],
      ["POST", "/patients/"],
      ["GET", `/patients/${ANY_ID}/`],
      ["PUT", `/patients/${ANY_ID}/`],
      ["POST", "/audit/events/"],
    ] as const) {
      const response = await app.request(path, { method, headers: admin.headers() });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.headers.get("allow"), `${method} ${path}`).toBeNull();
    }
  });
});

// A known path called with a method it does not take is a 405 with `Allow` naming the methods it does take;
// a path that no route serves stays a 404. A public path (one served without a token) answers so whatever token is
// sent, none or a bad one; a path behind authentication checks the token first, as it does for every request: a
// 401 without a valid one, whatever the method. (In-process requests go through fetch, which refuses TRACE; any
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
    // The last is no event type's schema, nor any path the schemas' route takes (its name is one segment).
    for (const path of ["/no-such-thing", "/events/schemas/patient/created.json"]) {
      for (const method of ["GET", "PUT"]) {
        const response = await app.request(path, { method, headers: admin.headers() });
        expect(response.status, `${method} ${path}`).toBe(404);
        expect(response.headers.get("allow"), `${method} ${path}`).toBeNull();
      }
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

describe("a method a public path does not take", () => {
  const publicPaths = [
    ["POST", "/health/live"],
    ["DELETE", "/health/ready"],
    ["PUT", "/metrics"],
    ["POST", "/openapi.json"],
    ["POST", "/docs"],
    ["DELETE", "/docs/assets/swagger-ui-dist/swagger-ui.css"],
    ["PATCH", "/asyncapi.json"],
    ["PUT", "/events/schemas/patient.created.json"],
    ["POST", "/console"],
    ["PUT", "/console/settings.json"],
    ["DELETE", "/console/console.js"],
    // jose's modules lie in folders: the route's pattern takes a path past a `/`.
    ["POST", "/console/jose/index.js"],
    ["OPTIONS", "/console/jose/lib/buffer_utils.js"],
  ] as const;
  const tokens = {
    "no token": async () => ({}),
    "a token that is refused": async () => ({ Authorization: "Bearer abc.def.ghi" }),
    "a valid token": async () => (await caller("patient")).headers(),
  };

  for (const [sent, headers] of Object.entries(tokens)) {
    it.each(publicPaths)(
      `%s %s with ${sent} is a 405 problem with Allow: GET, HEAD`,
      async (method, path) => {
        const response = await app.request(path, { method, headers: await headers() });
        expect(response.status).toBe(405);
        expect(response.headers.get("allow")).toBe("GET, HEAD");
        expect(response.headers.get("www-authenticate")).toBeNull();
        expect(response.headers.get("content-type")).toBe("application/problem+json");
        expect(await response.json()).toEqual({
          type: "about:blank",
          title: "Method Not Allowed",
          status: 405,
          detail: `${path} takes GET, HEAD.`,
          instance: path,
        });
      },
    );
  }

  it("each of them is served to GET without a token", async () => {
    for (const [, path] of publicPaths) {
      const { status } = await app.request(path);
      // (/health/ready is a 503 here, where no database answers)
      expect(status, path).toBe(path === "/health/ready" ? 503 : 200);
    }
  });
});

describe("a method a path behind authentication does not take, without a valid token", () => {
  it.each([
    ["PUT", "/documents"],
    ["PUT", `/patients/${ANY_ID}`],
    ["POST", "/audit/events"],
  ])("%s %s is a 401: the token is checked first, whatever the method", async (method, path) => {
    const withoutValidToken: Array<Record<string, string>> = [{}, { Authorization: "Bearer abc.def.ghi" }];
    for (const headers of withoutValidToken) {
      const response = await app.request(path, { method, headers });
      expect(response.status).toBe(401);
      expect(response.headers.get("allow")).toBeNull();
      expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm="healthcare-platform"/);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
    }
  });
});

// The console's files: served by the platform itself under a Content-Security-Policy that lets the page
// load only its own script and styles and talk only to its own origin; nothing else in its folder is served.
import { describe, expect, it } from "vitest";
import type { Database } from "../../db/client.ts";
import { testPlatform } from "../../test/tokens.ts";

// Building the app touches no database; the console's files need none.
const app = testPlatform({} as Database);

describe("the console's files", () => {
  it("serve the page, its module and its styles without a token, under a strict Content-Security-Policy", async () => {
    for (const [path, type] of [
      ["/console", "text/html"],
      ["/console/console.js", "text/javascript"],
      ["/console/console.css", "text/css"],
    ] as const) {
      const response = await app.request(path);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("Content-Type")).toContain(type);
      expect(response.headers.get("Content-Security-Policy")).toContain("script-src 'self'");
      expect(response.headers.get("Content-Security-Policy")).toContain("connect-src 'self'");
    }
    const page = await (await app.request("/console")).text();
    expect(page).not.toMatch(/https?:\/\//);
  });

  it("serve nothing else from the folder", async () => {
    const inherited = ["__proto__", "constructor", "toString", "hasOwnProperty"].map(
      (name) => `/console/${name}`,
    );
    for (const path of [
      "/console/routes.ts",
      "/console/index.html",
      "/console/..%2Froutes.ts",
      ...inherited,
    ]) {
      expect((await app.request(path)).status, path).toBe(404);
    }
  });

  it("name no identity provider's sign-in page unless one is configured", async () => {
    expect(await (await app.request("/console/settings.json")).json()).toEqual({ signInUrl: null });
  });
});

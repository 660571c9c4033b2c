// The console's files: served by the platform itself under a Content-Security-Policy that lets the page
// load only its own script and styles and talk only to its own origin; nothing else in its folder is served.
import { describe, expect, it } from "vitest";
import type { Database } from "../../db/client.ts";
import { createLogger } from "../../observability/logger.ts";
import { testPlatform } from "../../test/tokens.ts";
import { knownSignIn } from "./provider.ts";

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
      // Framed by no page: by the policy's frame-ancestors, and for a browser that does not read it, as /docs.
      expect(response.headers.get("Content-Security-Policy")).toContain("frame-ancestors 'none'");
      expect(response.headers.get("X-Frame-Options"), path).toBe("DENY");
    }
    const page = await (await app.request("/console")).text();
    expect(page).not.toMatch(/https?:\/\//);
  });

  it("send the folder's address on to the page, and serve the page's settings with the page's headers", async () => {
    const redirect = await app.request("/console/?from=a-bookmark");
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get("Location")).toBe("/console?from=a-bookmark");
    expect((await app.request("/console/")).headers.get("Location")).toBe("/console");
    const page = await app.request("/console");
    const settings = await app.request("/console/settings.json");
    expect(settings.status).toBe(200);
    for (const header of [
      "Cache-Control",
      "Content-Security-Policy",
      "X-Content-Type-Options",
      "Referrer-Policy",
      "X-Frame-Options",
    ]) {
      expect(settings.headers.get(header), header).toBe(page.headers.get(header));
      expect(redirect.headers.get(header), header).toBe(page.headers.get(header));
    }
    expect(page.headers.get("Cache-Control")).toBe("no-store");
  });

  it("serve jose's browser modules, as its package ships them, for the page's check of ID tokens", async () => {
    const { readFile } = await import("node:fs/promises");
    const { createRequire } = await import("node:module");
    const { dirname, join } = await import("node:path");
    const folder = dirname(createRequire(import.meta.url).resolve("jose"));
    for (const module of ["index.js", "jwt/verify.js", "jwks/remote.js", "util/errors.js"]) {
      const response = await app.request(`/console/jose/${module}`);
      expect(response.status, module).toBe(200);
      expect(response.headers.get("Content-Type")).toContain("text/javascript");
      expect(response.headers.get("Content-Security-Policy")).toContain("script-src 'self'");
      expect(await response.text()).toBe(await readFile(join(folder, module), "utf8"));
    }
  });

  it("serve nothing else from the folder", async () => {
    const inherited = ["__proto__", "constructor", "toString", "hasOwnProperty"].map(
      (name) => `/console/${name}`,
    );
    for (const path of [
      "/console/routes.ts",
      "/console/index.html",
      "/console/..%2Froutes.ts",
      "/console/jose/../routes.ts",
      "/console/jose/..%2F..%2F..%2Fpackage.json",
      "/console/jose/index.d.ts",
      "/console/jose/__proto__",
      ...inherited,
    ]) {
      expect((await app.request(path)).status, path).toBe(404);
    }
  });

  it("name no identity provider unless one is configured, and let the page reach only its own origin", async () => {
    expect(await (await app.request("/console/settings.json")).json()).toEqual({ signIn: null });
    for (const path of ["/console", "/console/console.js"]) {
      const policy = (await app.request(path)).headers.get("Content-Security-Policy");
      expect(policy).toContain("connect-src 'self';");
    }
  });
});

describe("the console with an identity provider configured", () => {
  const signIn = {
    issuer: "https://login.example.org",
    clientId: "audit-console",
    authorizationEndpoint: "https://login.example.org/oauth2/authorize",
    tokenEndpoint: "https://tokens.example.org:8443/oauth2/token?tenant=a",
    jwksUri: "https://keys.example.org/oauth2/jwks",
  };
  const lines: string[] = [];
  const log = createLogger({ destination: { write: (line: string) => lines.push(line) } });
  const withProvider = testPlatform({} as Database, { consoleSignIn: knownSignIn(signIn), log });

  it("names the provider's endpoints and the console's client id", async () => {
    expect(await (await withProvider.request("/console/settings.json")).json()).toEqual({ signIn });
  });

  it("names the issuer and the keys an ID token is checked against", async () => {
    expect(await (await withProvider.request("/console/settings.json")).json()).toMatchObject({
      signIn: { issuer: "https://login.example.org", jwksUri: "https://keys.example.org/oauth2/jwks" },
    });
  });

  it("lets the page reach its own origin, the token endpoint's and the keys', and no other", async () => {
    for (const path of [
      "/console",
      "/console/console.js",
      "/console/console.css",
      "/console/jose/index.js",
    ]) {
      const policy = (await withProvider.request(path)).headers.get("Content-Security-Policy") ?? "";
      const connect = policy.split(";").find((directive) => directive.trim().startsWith("connect-src"));
      expect(connect?.trim(), path).toBe(
        "connect-src 'self' https://tokens.example.org:8443 https://keys.example.org",
      );
      // Navigating to the authorization endpoint is not a connection: its origin is named nowhere.
      expect(policy).not.toContain("login.example.org");
    }
  });

  it("serves the page the provider returns to unstored, sending no Referer, its code and state not logged", async () => {
    lines.length = 0;
    const code = "a-code-only-this-test-knows";
    const response = await withProvider.request(`/console?code=${code}&state=its-state`);
    expect(response.status).toBe(200);
    expect(response.headers.get("Cache-Control")).toBe("no-store");
    expect(response.headers.get("Referrer-Policy")).toBe("no-referrer");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ route: "/console", status: 200 });
    expect(lines[0]).not.toContain(code);
    expect(lines[0]).not.toContain("its-state");
  });
});

describe("the console with an identity provider configured but not read yet", () => {
  const unread = testPlatform({} as Database, { consoleSignIn: { current: () => "unavailable" } });

  it("says the provider is unavailable, and lets the page reach only its own origin", async () => {
    expect(await (await unread.request("/console/settings.json")).json()).toEqual({
      signIn: null,
      providerUnavailable: true,
    });
    const policy = (await unread.request("/console")).headers.get("Content-Security-Policy");
    expect(policy).toContain("connect-src 'self';");
  });
});

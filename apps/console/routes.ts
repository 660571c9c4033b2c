// The compliance auditors' console at /console: a page, a small ES module and a style sheet from this
// folder (no build step, no CDN), talking to the auditor API with the auditor's bearer token. Public like
// /docs: the files hold no data; everything the console shows comes from the API, which checks the token.
import { readFile } from "node:fs/promises";
import { Hono } from "hono";
import { projectPath } from "../../config/projectRoot.ts";

// A Map, not an object literal: a path named `__proto__` or `constructor` is no asset.
const ASSETS: ReadonlyMap<string, string> = new Map([
  ["index.html", "text/html; charset=utf-8"],
  ["console.js", "text/javascript; charset=utf-8"],
  ["console.css", "text/css; charset=utf-8"],
]);

// Only this origin's script, styles and API: a token pasted into the page cannot be sent elsewhere, and
// no third-party code runs beside it. Trusted Types with no policy: the page sets every value as text, and
// the browser refuses a string given to an HTML or script sink (innerHTML, eval) should a change ever do so.
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'none'; frame-ancestors 'none'; base-uri 'none'; " +
  "require-trusted-types-for 'script'; trusted-types 'none'";

export interface ConsoleOptions {
  /** The identity provider's sign-in page, which sends the user back to /console#access_token=… (JWKS setups). */
  signInUrl?: string | undefined;
}

const assets = new Map<string, Promise<Buffer>>();

function asset(file: string): Promise<Buffer> {
  let content = assets.get(file);
  if (!content) {
    content = readFile(projectPath("apps", "console", "assets", file));
    assets.set(file, content);
  }
  return content;
}

export function consoleRoutes(options: ConsoleOptions = {}): Hono {
  const headers = (file: string) => ({
    "Content-Type": ASSETS.get(file) as string,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
  });
  return new Hono()
    .get("/console", async (c) =>
      c.body(new Uint8Array(await asset("index.html")), 200, headers("index.html")),
    )
    .get("/console/settings.json", (c) => c.json({ signInUrl: options.signInUrl ?? null }))
    .get("/console/:file", async (c) => {
      const file = c.req.param("file");
      if (file === "index.html" || !ASSETS.has(file)) return c.notFound();
      return c.body(new Uint8Array(await asset(file)), 200, headers(file));
    });
}

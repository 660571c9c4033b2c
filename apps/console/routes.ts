// The compliance auditors' console at /console: a page, a small ES module and a style sheet from this
// folder (no build step, no CDN), talking to the auditor API with the auditor's bearer token. Public like
// /docs: the files hold no data; everything the console shows comes from the API, which checks the token.
// Beside them, under /console/jose/, the browser build of jose (its ES modules as the pinned package ships
// them), with which the page checks the identity provider's ID token.
import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, sep } from "node:path";
import { Hono } from "hono";
import { projectPath } from "../../config/projectRoot.ts";
import type { ConsoleSignIn, ConsoleSignInSource } from "./provider.ts";

const JAVASCRIPT = "text/javascript; charset=utf-8";

// A Map, not an object literal: a path named `__proto__` or `constructor` is no asset.
const ASSETS: ReadonlyMap<string, string> = new Map([
  ["index.html", "text/html; charset=utf-8"],
  ["console.js", JAVASCRIPT],
  ["console.css", "text/css; charset=utf-8"],
]);

// Only this origin's script, styles and API: a token in the page cannot be sent elsewhere, and no
// third-party code runs beside it. Trusted Types with no policy: the page sets every value as text, and
// the browser refuses a string given to an HTML or script sink (innerHTML, eval) should a change ever do so.
// With a provider configured, the page may also reach the origin of its token endpoint, where it exchanges
// the sign-in's code, and of its keys (jwks_uri), which the ID token's signature must verify against: those
// origins, and no other (going to its sign-in page is a navigation, not a connection).
function contentSecurityPolicy(signIn: ConsoleSignIn | undefined): string {
  const origins = signIn ? [signIn.tokenEndpoint, signIn.jwksUri].map((url) => new URL(url).origin) : [];
  const connect = ["'self'", ...new Set(origins)].join(" ");
  return (
    `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src ${connect}; ` +
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'; " +
    "require-trusted-types-for 'script'; trusted-types 'none'"
  );
}

/** jose's browser build: the folder of its `webapi` modules, which its package's main export is the index of. */
const JOSE_FOLDER = dirname(createRequire(import.meta.url).resolve("jose"));
let joseModules: ReadonlySet<string> | undefined;

/** Whether `path` (under /console/jose/) is one of jose's modules: only those are served, nothing else of its package. */
function isJoseModule(path: string): boolean {
  joseModules ??= new Set(
    readdirSync(JOSE_FOLDER, { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".js"))
      .map((file) => file.split(sep).join("/")),
  );
  return joseModules.has(path);
}

export interface ConsoleOptions {
  /** The OpenID Connect provider the console signs in with (CONSOLE_OIDC_*); without it, tokens are pasted. */
  signIn?: ConsoleSignInSource | undefined;
}

const assets = new Map<string, Promise<Buffer>>();

/** A file of the assets folder, or (`jose/…`) one of jose's modules, read once. */
function asset(file: string): Promise<Buffer> {
  let content = assets.get(file);
  if (!content) {
    content = file.startsWith("jose/")
      ? readFile(join(JOSE_FOLDER, ...file.slice("jose/".length).split("/")))
      : readFile(projectPath("apps", "console", "assets", file));
    assets.set(file, content);
  }
  return content;
}

export function consoleRoutes(options: ConsoleOptions = {}): Hono {
  // The provider as known when the page is served: its settings, then, say the same as its policy.
  const provider = () => {
    const signIn = options.signIn?.current();
    return signIn === "unavailable" ? undefined : signIn;
  };
  // The address the page is opened at may hold the provider's code until the page removes it: the page is not
  // stored in the browser's cache under it, and sends no Referer (the request log records the route only,
  // never a query). What the page reads as it starts (its settings) or is sent on to (its address) is kept
  // the same way: unstored, since the settings say whether the provider can be reached now.
  const unstored = () => ({
    "Content-Security-Policy": contentSecurityPolicy(provider()),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    // frame-ancestors 'none' says it to browsers that read the policy; this to those that do not, as /docs does.
    "X-Frame-Options": "DENY",
  });
  const headers = (file: string) => ({
    ...unstored(),
    "Content-Type": file.startsWith("jose/") ? JAVASCRIPT : (ASSETS.get(file) as string),
    "Cache-Control": file === "index.html" ? "no-store" : "no-cache",
  });
  return (
    new Hono()
      .get("/console", async (c) =>
        c.body(new Uint8Array(await asset("index.html")), 200, headers("index.html")),
      )
      // The folder's address, as a user may type it or a link spell it: sent on to the page's one address,
      // /console (the provider's redirect URI), with its query; the browser keeps the fragment.
      .get("/console/", (c) => {
        const { search } = new URL(c.req.url);
        return c.body(null, 308, { ...unstored(), Location: `/console${search}` });
      })
      .get("/console/settings.json", (c) => {
        const signIn = options.signIn?.current();
        // Configured but not read yet: the page says the provider is unavailable, and tokens are pasted.
        const settings =
          signIn === "unavailable" ? { signIn: null, providerUnavailable: true } : { signIn: signIn ?? null };
        return c.json(settings, 200, unstored());
      })
      .get("/console/jose/:path{.+}", async (c) => {
        const file = `jose/${c.req.param("path")}`;
        if (!isJoseModule(c.req.param("path"))) return c.notFound();
        return c.body(new Uint8Array(await asset(file)), 200, headers(file));
      })
      .get("/console/:file", async (c) => {
        const file = c.req.param("file");
        if (file === "index.html" || !ASSETS.has(file)) return c.notFound();
        return c.body(new Uint8Array(await asset(file)), 200, headers(file));
      })
  );
}

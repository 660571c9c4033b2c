// Swagger UI's own files for /docs, served from the pinned swagger-ui-dist package rather than a CDN: the
// documentation works on a network without internet access and never loads third-party code into a page
// of a healthcare platform.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Context, MiddlewareHandler } from "hono";

/** Where /docs asks for the assets: @hono/swagger-ui appends `/swagger-ui-dist/<file>`. */
export const DOCS_ASSETS_BASE = "/docs/assets";

// A Map, not an object literal: a path named `__proto__` or `constructor` is no asset.
const ASSETS: ReadonlyMap<string, string> = new Map([
  ["swagger-ui.css", "text/css; charset=utf-8"],
  ["swagger-ui-bundle.js", "text/javascript; charset=utf-8"],
]);

const packageDirectory = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
const cache = new Map<string, Promise<Buffer>>();

/** The route that serves them. */
export const DOCS_ASSET_ROUTE = `${DOCS_ASSETS_BASE}/swagger-ui-dist/:file`;

export async function docsAsset(c: Context): Promise<Response> {
  const file = c.req.param("file") ?? "";
  const contentType = ASSETS.get(file);
  if (!contentType) return c.notFound();
  let content = cache.get(file);
  if (!content) {
    content = readFile(join(packageDirectory, file));
    cache.set(file, content);
  }
  return c.body(new Uint8Array(await content), 200, {
    "Content-Type": contentType,
    "Cache-Control": "public, max-age=86400",
    "X-Content-Type-Options": "nosniff",
  });
}

/**
 * The /docs page shares its origin with the auditors' console: no other site may frame it (a user who pasted a
 * token into its "Authorize" could be made to send requests they never meant to), and no address is sent on
 * from it. Swagger UI's page starts itself with an inline script, so its policy names the frame's ancestors only.
 */
export const docsPageHeaders: MiddlewareHandler = async function docsPageHeaders(c, next) {
  await next();
  c.res.headers.set("Content-Security-Policy", "frame-ancestors 'none'");
  c.res.headers.set("X-Frame-Options", "DENY");
  c.res.headers.set("X-Content-Type-Options", "nosniff");
  c.res.headers.set("Referrer-Policy", "no-referrer");
};

// The headers of every answer behind authentication: patient records, the audit history and its exports are
// personal data that no cache may keep, neither a proxy's nor the browser's own (the auditors' console reads
// the history with fetch, whose answers Chromium otherwise writes to its disk cache), and that no browser may
// take for anything but the type it is sent as.
import type { MiddlewareHandler } from "hono";

export function privateAnswers(): MiddlewareHandler {
  return async function privateAnswerHeaders(c, next) {
    await next();
    // After the handler, so that refusals (401, 403, 404) and errors get them too, whoever made the response.
    c.res.headers.set("Cache-Control", "no-store");
    c.res.headers.set("X-Content-Type-Options", "nosniff");
  };
}

// One log line per request: method, route, status, duration and correlation id; never bodies (they hold PHI).
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Logger } from "../../observability/logger.ts";
import type { RequestContextEnv } from "./requestContext.ts";

export function requestLog(log: Logger): MiddlewareHandler<RequestContextEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const status = c.res.status;
    log[status >= 500 ? "error" : "info"](
      {
        method: c.req.method,
        route: routePath(c),
        status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        correlationId: c.get("requestContext")?.metadata.correlationId,
      },
      "request",
    );
  };
}

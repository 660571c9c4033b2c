// The request's server span: a child of the caller's W3C trace context (traceparent, tracestate) when it sent
// one, else the root of a new trace, and the active context for everything the request does (its database
// transaction, its outbox rows). Of the caller's tracestate only the members TRACESTATE_KEYS names are kept, and
// none of a malformed one (events/tracestate.ts): the rows store it, and the records carry it, for good. Only
// the method, the route, the path and the status are recorded: no query string, header or body, which can carry
// personal data.
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
} from "@opentelemetry/semantic-conventions";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { admittedTracestate } from "../../events/tracestate.ts";
import { contextFromHeaders } from "../../events/tracing.ts";

const TRACER_NAME = "healthcare-events/http";

/** `tracestateKeys`: the keys of the members of a caller's tracestate that are kept (TRACESTATE_KEYS). */
export function requestSpan(tracestateKeys: ReadonlySet<string>): MiddlewareHandler {
  return async function requestSpan(c, next) {
    const parent = contextFromHeaders({
      traceparent: c.req.header("traceparent"),
      tracestate: admittedTracestate(c.req.header("tracestate"), tracestateKeys),
    });
    const method = c.req.method;
    // The global provider's tracer of the moment, as events/tracing.ts takes it: a tracer taken once, at load,
    // keeps the provider it first found, and goes on making spans after that provider is shut down and replaced.
    await trace.getTracer(TRACER_NAME).startActiveSpan(
      method,
      {
        kind: SpanKind.SERVER,
        attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_PATH]: c.req.path },
      },
      parent,
      async (span) => {
        try {
          await next();
        } finally {
          // The route is known once routing has run: the last matched handler's pattern (/patients/:id).
          const route = routePath(c, -1);
          span.updateName(`${method} ${route}`);
          span.setAttribute(ATTR_HTTP_ROUTE, route);
          span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, c.res.status);
          if (c.res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        }
      },
    );
  };
}

// Who and what caused a request, taken once per request and carried into every event's metadata.
import { randomUUID } from "node:crypto";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context, MiddlewareHandler } from "hono";
import type { EventMetadata } from "../../events/index.ts";
import { HttpProblem } from "./problem.ts";

export interface RequestContext {
  metadata: EventMetadata;
  traceparent: string | null;
}

export type RequestContextEnv = { Variables: { requestContext: RequestContext } };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// W3C Trace Context, version 00; a malformed header is dropped, as the spec asks, rather than refused.
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

export function requestContext(): MiddlewareHandler<RequestContextEnv> {
  return async (c, next) => {
    const givenCorrelationId = c.req.header("x-correlation-id");
    if (givenCorrelationId !== undefined && !UUID.test(givenCorrelationId)) {
      throw HttpProblem.invalid([{ field: "header.x-correlation-id", message: "must be a UUID" }]);
    }
    const correlationId = givenCorrelationId?.toLowerCase() ?? randomUUID();
    const traceparent = c.req.header("traceparent")?.toLowerCase();
    c.set("requestContext", {
      metadata: {
        correlationId,
        userId: null,
        ipAddress: clientAddress(c),
        userAgent: c.req.header("user-agent") ?? null,
        sessionId: null,
      },
      traceparent: traceparent && TRACEPARENT.test(traceparent) ? traceparent : null,
    });
    c.header("X-Correlation-Id", correlationId);
    await next();
  };
}

/** The peer address of the connection; requests built in-process (tests) have none. */
function clientAddress(c: Context): string | null {
  try {
    return getConnInfo(c).remote.address ?? null;
  } catch {
    return null;
  }
}

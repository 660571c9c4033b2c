// Who and what caused a request, taken once per request and carried into every event's metadata.
import { randomUUID } from "node:crypto";
import { getConnInfo } from "@hono/node-server/conninfo";
import { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { EventMetadata } from "../../events/index.ts";
import { HttpProblem } from "./problem.ts";

export interface RequestContext {
  metadata: EventMetadata;
}

export type RequestContextEnv = { Variables: { requestContext: RequestContext } };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The request header as every route documents it (apps/http/openapi.ts); checked here, before anything else. */
export const correlationIdRequestHeader = z
  .string()
  .regex(UUID, "must be a UUID")
  .optional()
  .openapi({
    description:
      "Ties this request to the events it causes (their metadata.correlationId, lower-cased) and to the answer's " +
      "X-Correlation-Id; one is made up when it is left out.",
  });

export function requestContext(): MiddlewareHandler<RequestContextEnv> {
  return async (c, next) => {
    const givenCorrelationId = c.req.header("x-correlation-id");
    if (givenCorrelationId !== undefined && !UUID.test(givenCorrelationId)) {
      // The refusal still carries one, as every answer does.
      c.header("X-Correlation-Id", randomUUID());
      throw HttpProblem.invalid([{ field: "header.x-correlation-id", message: "must be a UUID" }]);
    }
    const correlationId = givenCorrelationId?.toLowerCase() ?? randomUUID();
    c.set("requestContext", {
      metadata: {
        correlationId,
        userId: null,
        ipAddress: clientAddress(c),
        userAgent: c.req.header("user-agent") ?? null,
        sessionId: null,
      },
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

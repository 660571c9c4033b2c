// Who and what caused a request, taken once per request and carried into every event's metadata.
import { randomUUID } from "node:crypto";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context, MiddlewareHandler } from "hono";
import { type EventMetadata, eventMetadata } from "../../events/index.ts";
import { anyCaseUuid } from "./ids.ts";
import { HttpProblem } from "./problem.ts";

export interface RequestContext {
  metadata: EventMetadata;
  /** The principal is a patient (set by authentication): appendEvents keeps their IP and device to their own records. */
  actingPatient?: boolean;
}

export type RequestContextEnv = { Variables: { requestContext: RequestContext } };

/**
 * The request header as every route documents it (apps/http/openapi.ts); checked here, before anything else.
 * The same UUIDs as every other id (RFC 9562, any case): the events it goes into are checked by their consumers
 * with that rule, so a looser one here would commit events that every consumer refuses.
 */
export const correlationIdRequestHeader = anyCaseUuid.optional().meta({
  description:
    "Ties this request to the events it causes (their metadata.correlationId, lower-cased) and to the answer's " +
    "X-Correlation-Id; one is made up when it is left out.",
});

export function requestContext(): MiddlewareHandler<RequestContextEnv> {
  return async (c, next) => {
    const given = correlationIdRequestHeader.safeParse(c.req.header("x-correlation-id"));
    if (!given.success) {
      // The refusal still carries one, as every answer does.
      c.header("X-Correlation-Id", randomUUID());
      throw HttpProblem.invalid([{ field: "header.x-correlation-id", message: "must be a UUID" }]);
    }
    const correlationId = given.data ?? randomUUID();
    c.set("requestContext", {
      // (the user agent trimmed and bounded there, as in every event's metadata)
      metadata: eventMetadata({
        correlationId,
        ipAddress: clientAddress(c),
        userAgent: c.req.header("user-agent"),
      }),
    });
    c.header("X-Correlation-Id", correlationId);
    await next();
  };
}

/** The peer address of the connection; requests built in-process (tests) have none. */
function clientAddress(c: Context): string | null {
  try {
    const address = getConnInfo(c).remote.address;
    return address === undefined ? null : plainAddress(address);
  } catch {
    return null;
  }
}

/**
 * The address as the client has it: a server listening on both IPv6 and IPv4 (`::`, Node's default) sees an IPv4
 * client as `::ffff:192.0.2.7`, which is no IPv4 address, nor one of the IPv6 forms the published event schemas
 * take; its IPv4 address is what it names.
 */
export function plainAddress(address: string): string {
  return IPV4_MAPPED.exec(address)?.[1] ?? address;
}

const IPV4_MAPPED =
  /^::ffff:((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})$/i;

// The event context of a request: the emitting service and the request's metadata (correlation id, user,
// session, IP, user agent) and trace context, as appendEvents records them with every event.
import type { Context } from "hono";
import type { EventContext } from "../../db/outbox/appendEvents.ts";
import type { RequestContextEnv } from "./requestContext.ts";

export function eventContext<E extends RequestContextEnv>(c: Context<E>, source: string): EventContext {
  const { metadata, traceparent } = c.get("requestContext");
  return { source, metadata, traceparent };
}

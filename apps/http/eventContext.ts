// The event context of a request: the emitting service and the request's metadata (correlation id, user,
// session, IP, user agent), as appendEvents records them with every event, and the keys it seals their
// personal fields with. The trace context needs no passing: the request's span is the active context.
import type { Context, MiddlewareHandler } from "hono";
import type { EventContext } from "../../db/outbox/appendEvents.ts";
import type { MasterKeys } from "../../phi/masterKeys.ts";
import type { RequestContextEnv } from "./requestContext.ts";

/** The master keys the service's events are sealed with: the process's, given to the service frame. */
export type SealingEnv = { Variables: { masterKeys: MasterKeys } };

export function sealingKeys(masterKeys: MasterKeys): MiddlewareHandler<SealingEnv> {
  return async function sealingKeys(c, next) {
    c.set("masterKeys", masterKeys);
    await next();
  };
}

export function eventContext<E extends RequestContextEnv & SealingEnv>(
  c: Context<E>,
  source: string,
): EventContext {
  const { metadata, actingPatient = false } = c.get("requestContext");
  return { source, metadata, masterKeys: c.get("masterKeys"), actingPatient };
}

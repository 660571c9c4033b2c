// Rules tightened after events were written under looser ones. An event is read by the rule it was written under,
// for ever: a replay, a dead letter's redrive, an audit export and a consumer's restart read the whole history,
// and an event refused there would be lost to them. A request is checked by today's rule: the events' check is
// recorded here with the checks a request runs in its place (tightenedInRequests), and forRequests swaps them
// in; apps/http/requestSchema.ts applies it to every route's input, and the API document publishes what it gives.
import type { z } from "zod";

type Check = z.core.$ZodCheck<never>;

/** What a request is held to in place of one of the events' checks. */
export interface RequestRule {
  /** The checks a request runs in its place, in its position. */
  checks: z.core.$ZodCheck<string>[];
  /** What a request's schema publishes in place of the pattern the events' schema publishes (`events`). */
  publishes?: { events?: string; pattern: string; description?: string };
}

const REQUEST_RULES = new Map<Check, RequestRule>();

/** `eventsCheck`, a check of the events' rule, recorded with what a request is held to in its place. */
export function tightenedInRequests<C extends z.core.$ZodCheck<string>>(
  eventsCheck: C,
  inRequests: RequestRule,
): C {
  REQUEST_RULES.set(eventsCheck as unknown as Check, inRequests);
  return eventsCheck;
}

/**
 * `schema` as a request is held to it when one of its checks is an events' rule a request is held to more
 * strictly (and so for what is made of it: a field `.describe()`d, refined, given metadata), with what it
 * publishes in place of the events'; undefined for any other schema. A schema published with a pattern the rule
 * did not make is refused: its request's pattern would not say what the request is checked by.
 */
export function forRequests(schema: z.ZodType): z.ZodType | undefined {
  const checks = (schema._zod.def.checks ?? []) as Check[];
  const rules = checks.flatMap((check) => REQUEST_RULES.get(check) ?? []);
  if (rules.length === 0) return undefined;
  const meta = schema.meta() ?? {};
  let published: Record<string, unknown> = { ...meta };
  for (const { publishes } of rules) {
    if (publishes === undefined) continue;
    if (published.pattern !== publishes.events) {
      throw new Error(
        `a schema held to a tightened rule publishes a pattern the rule did not make: ${meta.pattern}`,
      );
    }
    const described = [published.description, publishes.description].filter((said) => said !== undefined);
    published = {
      ...published,
      pattern: publishes.pattern,
      ...(described.length > 0 ? { description: described.join(" ") } : {}),
    };
  }
  const def = {
    ...schema._zod.def,
    checks: checks.flatMap((check) => (REQUEST_RULES.get(check)?.checks ?? [check]) as Check[]),
  };
  // A clone has no metadata of its own: the original's is given back, with what the request publishes.
  const request = schema.clone(def as typeof schema._zod.def);
  return Object.keys(published).length === 0 ? request : request.meta(published);
}

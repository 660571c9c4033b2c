// A request's schema as its route checks it and the API document publishes it: the events' field schemas a body is
// built from, with every rule tightened since events were written under it held to today's (events/requestRules.ts).
// The events keep the rule they were written under, so that one written before stays readable; securedRoute
// applies this to every route's input.
import type { z } from "zod";
import { forRequests } from "../../events/requestRules.ts";

/**
 * `schema` with every tightened rule in it, nested ones too (an object's fields, an array's items, a union's
 * options, what is optional, nullable or defaulted), held to the request's; `schema` itself when it holds none. A
 * schema around one that changed is rebuilt from its definition, with its checks and its metadata.
 */
export function requestSchema<T extends z.ZodType>(schema: T): T {
  return rebuilt(schema) as T;
}

function rebuilt(schema: z.ZodType): z.ZodType {
  const asRequest = forRequests(schema);
  if (asRequest !== undefined) return asRequest;
  const def = schema._zod.def as unknown as Record<string, unknown>;
  // A lazy schema's inner one is made on use, out of reach: refused rather than left to the events' rule.
  if (def.type === "lazy") throw new Error("a lazy schema cannot be held to the request's rules");
  const descriptors = Object.getOwnPropertyDescriptors(def);
  let changed = false;
  for (const key of Object.keys(descriptors)) {
    // A definition's checks are its own rules, not schemas inside it.
    if (key === "checks") continue;
    const inner = def[key];
    const next = rebuiltInner(inner);
    if (next !== inner) {
      descriptors[key] = { value: next, enumerable: true, writable: true, configurable: true };
      changed = true;
    }
  }
  if (!changed) return schema;
  const copy = schema.clone(Object.defineProperties({}, descriptors) as typeof schema._zod.def);
  const meta = schema.meta();
  return meta === undefined ? copy : copy.meta(meta);
}

/** A definition's value rebuilt: a schema, a list of them (a union's options) or an object of them (a shape). */
function rebuiltInner(inner: unknown): unknown {
  if (isSchema(inner)) return rebuilt(inner);
  if (Array.isArray(inner)) {
    const next = inner.map(rebuiltInner);
    return next.some((value, at) => value !== inner[at]) ? next : inner;
  }
  if (inner !== null && typeof inner === "object" && Object.getPrototypeOf(inner) === Object.prototype) {
    const entries = Object.entries(inner);
    const next = entries.map(([name, value]) => [name, rebuiltInner(value)] as const);
    return next.some(([, value], at) => value !== entries[at]?.[1]) ? Object.fromEntries(next) : inner;
  }
  return inner;
}

function isSchema(value: unknown): value is z.ZodType {
  return (
    value !== null &&
    typeof value === "object" &&
    "_zod" in value &&
    typeof (value as { _zod: { run?: unknown } })._zod.run === "function"
  );
}

// TRACESTATE_KEYS: the members of a caller's W3C tracestate the platform keeps, by key (events/tracestate.ts).
// A tracestate is text the caller chooses, and what is kept of it is stored in the tamper-evident history and
// sent in every record's headers, for good: only keys an operator named are kept, none unless set.
import { z } from "zod";
import { EMPTY_ENTRY, eachOnce, listEntries } from "./eachOnce.ts";

/**
 * A tracestate key (W3C Trace Context, "key"): a lower-case letter, then up to 255 of `a-z 0-9 _ - * /`; or
 * `tenant@system`, a tenant of up to 241 of those (a letter or digit first) and a system of up to 14 (a
 * letter first).
 */
export const TRACESTATE_KEY =
  /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;

/** No member of a caller's tracestate is kept: TRACESTATE_KEYS unset. */
export const NO_TRACESTATE_KEYS: ReadonlySet<string> = new Set();

/** Comma-separated keys; each must be a W3C tracestate key, named when it is not. */
export const tracestateKeys = z
  .string()
  .transform(listEntries)
  .pipe(
    z
      .array(
        z
          .string()
          .min(1, { error: EMPTY_ENTRY, abort: true })
          .refine((key) => TRACESTATE_KEY.test(key), {
            error: (issue) =>
              `${JSON.stringify(issue.input)} is not a W3C tracestate key: a lower-case letter, then up to 255 of a-z 0-9 _ - * /, or tenant@system (like congo, rojo or t61@dt)`,
          }),
      )
      .min(1, "list at least one key (unset, no member of a caller's tracestate is kept)")
      .superRefine(eachOnce("key")),
  )
  .transform((keys): ReadonlySet<string> => new Set(keys));

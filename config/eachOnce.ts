// A list variable's entries, each listed once (KAFKA_BROKERS, CONSUMERS, JWT_AUDIENCE, TRACESTATE_KEYS, ...).
import type { z } from "zod";

/**
 * Refuses each entry a list holds more than once, naming it (`what` says what an entry is): the repeat is a
 * slip, standing where another entry was meant, or would start one thing twice. `key` folds the spellings that
 * name one entry (a host name's case).
 */
export function eachOnce(what: string, key: (entry: string) => string = (entry) => entry) {
  return (entries: readonly string[], context: z.RefinementCtx<string[]>) => {
    const seen = new Set<string>();
    const repeated = new Set<string>();
    for (const entry of entries) {
      const name = key(entry);
      if (seen.has(name) && !repeated.has(name)) {
        repeated.add(name);
        context.addIssue({
          code: "custom",
          message: `${what} ${JSON.stringify(entry)} is listed more than once`,
        });
      }
      seen.add(name);
    }
  };
}

/** What a list's empty entry is told: a slip (a comma doubled, or one left at an end), never an entry to skip. */
export const EMPTY_ENTRY = "holds an empty entry (two commas in a row, or one at either end)";

/** A comma-separated list's entries, trimmed; none when it holds nothing but commas and blanks. */
export function listEntries(value: string): string[] {
  const entries = value.split(",").map((entry) => entry.trim());
  return entries.every((entry) => entry === "") ? [] : entries;
}

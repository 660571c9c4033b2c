// The date and instant fields check exactly what the documents publish (the published pattern and the
// checker agree on every day of years at the edges: no year 0000, leap years of every rule, 9999), and named
// values keep every name they are sent or refuse it.

import { describe, expect, it } from "vitest";
import { z } from "zod";
import { isoDate, metrics, utcTimestamp } from "./fields.ts";

const pattern = (schema: z.ZodType) => new RegExp((z.toJSONSchema(schema) as { pattern: string }).pattern);
const years = [0, 1, 4, 100, 400, 1600, 1900, 2000, 2023, 2024, 9996, 9999];
const candidates = years.flatMap((year) =>
  Array.from({ length: 12 * 32 }, (_, index) => {
    const month = Math.floor(index / 32) + 1;
    const day = index % 32;
    return `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
  }),
);

describe("field schemas", () => {
  it("accept exactly what their published pattern does, and never year 0000, which Postgres refuses", () => {
    const datePattern = pattern(isoDate);
    const timestampPattern = pattern(utcTimestamp);
    for (const date of candidates) {
      expect(isoDate.safeParse(date).success, date).toBe(datePattern.test(date));
      const instant = `${date}T23:59:59.5Z`;
      expect(utcTimestamp.safeParse(instant).success, instant).toBe(timestampPattern.test(instant));
    }
    // Eleven years of 0001-9999, six of them leap years (4, 400, 1600, 2000, 2024, 9996; not 100, 1900).
    expect(candidates.filter((date) => isoDate.safeParse(date).success)).toHaveLength(11 * 365 + 6);
    expect(isoDate.safeParse("0000-01-01").error?.issues.map((issue) => issue.message)).toEqual([
      "must be in the years 0001 to 9999 (there is no year 0)",
    ]);
    expect(utcTimestamp.safeParse("0000-06-01T00:00:00Z").success).toBe(false);
    expect(isoDate.safeParse("1900-02-29").error?.issues).toHaveLength(1);
  });

  it("refuse a __proto__ name in named values by name, where zod would drop it from what is stored and sent", () => {
    const parsed = metrics.safeParse(JSON.parse('{"__proto__": 0.5, "auc": 0.9}'));
    expect(parsed.error?.issues.map((issue) => [issue.path, issue.message])).toEqual([
      [["__proto__"], "is not a name this API accepts"],
    ]);
    expect(metrics.parse({ auc: 0.9, "f1.macro": 0.8 })).toEqual({ auc: 0.9, "f1.macro": 0.8 });
  });
});

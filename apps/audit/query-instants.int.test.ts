// The times an auditor's query names (GET /audit/events' and the export's `from` and `to`, /audit/verify's
// `since` and `until`) are published as they are read: an RFC 3339 instant with its offset, its form a pattern
// in /openapi.json. `format: date-time` alone let a client send what RFC 3339 allows and the API refuses (a
// lower-case `t` or `z`, a leap second), or what a lax validator takes (`+0530`, a blank for the `T`): each
// was a 400 for a value the document declared valid. Each value is accepted exactly when the document's
// schema for the parameter takes it, and a refused one is named.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { documentValidator, type Schema } from "../../test/documentValues.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const document = (await (await app.request("/openapi.json")).json()) as {
  paths: Record<string, { get: { parameters: Array<{ name: string; in: string; schema: Schema }> } }>;
  components?: { schemas?: Record<string, unknown> };
};
const validate = documentValidator(document);

/** Spellings a client's date-time generator or validator may produce: RFC 3339's own, and lax ones. */
const INSTANTS = [
  "2024-01-15T10:30:00Z",
  "2024-01-15T10:30:00.123456789Z",
  "2024-01-15T10:30:00.123456+00:00",
  "2024-01-15T10:30:00.1234567891Z",
  "2024-01-15T10:30:00+05:30",
  "2024-01-15T10:30:00-00:00",
  "2024-02-29T00:00:00+14:00",
  "0001-01-01T00:00:00Z",
  "2024-01-15t10:30:00z",
  "2016-12-31T23:59:60Z",
  "2024-01-15T10:30:00+0530",
  "2024-01-15T10:30:00+05",
  "2024-01-15 10:30:00Z",
  "2024-01-15T10:30Z",
  "2024-01-15T24:00:00Z",
];

const PARAMETERS = [
  ["/audit/events", "from"],
  ["/audit/events", "to"],
  ["/audit/events/export", "from"],
  ["/audit/events/export", "to"],
  ["/audit/verify", "until"],
] as const;

describe("an instant in an auditor's query", () => {
  for (const [path, name] of PARAMETERS) {
    it(`${path}?${name}= is published with the pattern it is read by, and accepted exactly when that takes it`, async () => {
      const schema = document.paths[path]?.get.parameters.find(
        (parameter) => parameter.name === name,
      )?.schema;
      expect(schema?.pattern, `${path} ${name}`).toBeDefined();
      const auditor = await caller("auditor");
      for (const instant of INSTANTS) {
        const valid = validate(schema as Schema, instant).length === 0;
        // An export narrowed to no event: the instant's reading is under test, not the whole history's export.
        const narrowed = path === "/audit/events/export" ? `&correlationId=${randomUUID()}` : "";
        const response = await app.request(`${path}?${name}=${encodeURIComponent(instant)}${narrowed}`, {
          headers: auditor.headers(),
        });
        const what = `${path}?${name}=${instant}: ${response.status}`;
        const body = await response.text();
        if (valid) expect(response.status, what).toBe(200);
        else {
          expect(response.status, what).toBe(400);
          const problem = JSON.parse(body) as { errors: Array<{ field: string }> };
          expect(problem.errors.map((error) => error.field)).toContain(`query.${name}`);
        }
      }
    });
  }
});

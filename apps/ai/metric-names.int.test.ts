// A metric's name is published as the API checks it: /openapi.json declares the names a model's and a
// performance report's metrics may have (`propertyNames`), and a client that reads the document gets no
// surprise either way: each name the document declares valid is accepted, each it refuses is a 400 naming the
// metric that writes nothing. The OpenAPI generator drops a record's key schema, so the document took any
// name (a space, an empty name, a dotted path with a slash in front) while the API refused it.
import { sql } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { documentValidator, type Schema } from "../../test/documentValues.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { caller, testPlatform } from "../../test/tokens.ts";
import { shownName } from "../http/problem.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

interface Operation {
  requestBody: { content: { "application/json": { schema: { properties: Record<string, Schema> } } } };
}
const document = (await (await app.request("/openapi.json")).json()) as {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
};
const validate = documentValidator(document);
const metricsOf = (path: string) =>
  document.paths[path]?.post?.requestBody.content["application/json"].schema.properties.metrics as Schema;

const outboxRows = async () =>
  (await db.execute<{ count: string }>(sql`SELECT count(*)::text AS count FROM outbox`)).rows[0]?.count;

async function post(path: string, body: unknown) {
  const response = await app.request(path, {
    method: "POST",
    headers: (await caller("service")).headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { errors?: Array<{ field: string }> } };
}

/** Names a client's generator may well draw: the document's own examples of odd ones, and any text. */
const names = fc.oneof(
  fc.constantFrom("auc", "f1@v2", "loss/val", "", " auc", "has space", "_private", "é", "a".repeat(129)),
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,20}$/),
);

describe("a metric's name", () => {
  const routes = [
    { path: "/ai/models", body: requestBodies.model },
    { path: "/ai/models/{id}/performance", body: requestBodies.performance },
  ];

  it("is declared by the document (propertyNames) for every body that takes metrics", () => {
    for (const { path } of routes) expect(metricsOf(path).propertyNames, path).toBeDefined();
  });

  for (const { path, body } of routes) {
    it(`${path}: accepted exactly when the document declares it valid; refused, it is named and writes nothing`, async () => {
      const created = await post("/ai/models", requestBodies.model());
      expect(created.status).toBe(201);
      const target = path.replace("{id}", (created.body as { id: string }).id);
      await fc.assert(
        fc.asyncProperty(names, async (name) => {
          const metrics = { [name]: 0.5 };
          const valid = validate(metricsOf(path), metrics).length === 0;
          const before = await outboxRows();
          const answer = await post(target, { ...body(), metrics });
          if (valid) {
            expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(300);
          } else {
            expect(answer.status).toBe(400);
            // Named as sent when it reads as a field name, else as [name] (apps/http/problem.ts).
            expect(answer.body.errors?.map((error) => error.field)).toContain(
              `body.metrics.${shownName(name)}`,
            );
            expect(await outboxRows()).toBe(before);
          }
        }),
        { seed: 20261204, numRuns: 40 },
      );
    });
  }
});

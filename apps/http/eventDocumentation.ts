// The event catalog's documentation, public like /openapi.json: the AsyncAPI document of the six topics and
// the JSON Schema of each event type's record value, both generated from the zod schemas (events/docs/).
import { Hono } from "hono";
import { asyncApiDocument } from "../../events/docs/asyncApiDocument.ts";
import { eventJsonSchemas } from "../../events/docs/eventJsonSchemas.ts";
import { isEventType } from "../../events/index.ts";
import { HttpProblem } from "./problem.ts";

export function eventDocumentationRoutes(): Hono {
  // Built on first request, then kept: the catalog does not change while the process runs.
  const asyncApi = once(asyncApiDocument);
  const schemas = once(eventJsonSchemas);
  return new Hono()
    .get("/asyncapi.json", (c) => c.json(asyncApi()))
    .get("/events/schemas/:file{[a-z.]+\\.json}", (c) => {
      const type = c.req.param("file").replace(/\.json$/, "");
      if (!isEventType(type)) throw HttpProblem.notFound(`There is no event type ${type} in the catalog.`);
      return c.json(schemas()[type], 200, { "Content-Type": "application/schema+json" });
    });
}

function once<T>(build: () => T): () => T {
  let value: { built: T } | undefined;
  return () => {
    value ??= { built: build() };
    return value.built;
  };
}

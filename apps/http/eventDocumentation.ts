// The event catalog's documentation, public like /openapi.json: the AsyncAPI document of the six topics and
// the JSON Schema of each event type's record value, both generated from the zod schemas (events/docs/).
import { Hono } from "hono";
import { type AsyncApiOptions, asyncApiDocument } from "../../events/docs/asyncApiDocument.ts";
import { eventJsonSchemas } from "../../events/docs/eventJsonSchemas.ts";
import { isEventType } from "../../events/index.ts";
import { once } from "./once.ts";
import { HttpProblem, problemResponse } from "./problem.ts";

export function eventDocumentationRoutes(brokers: AsyncApiOptions = {}): Hono {
  // Built on first request, then kept, as text: the catalog does not change while the process runs, and writing
  // the AsyncAPI document (over 250 KB) out again took 15 ms of CPU per request.
  const asyncApi = once(() => JSON.stringify(asyncApiDocument(brokers)));
  const schemas = once(eventJsonSchemas);
  return (
    new Hono()
      .get("/asyncapi.json", (c) => c.body(asyncApi(), 200, { "Content-Type": "application/json" }))
      // Any name under the path is this route's, public like the others: a name that is no event type's schema is
      // a 404 without a token, as a known one is a 200 (it was a 401 when the name was not of the schemas' pattern).
      .get("/events/schemas/:file", (c) => {
        const file = c.req.param("file");
        const type = file.endsWith(".json") ? file.slice(0, -".json".length) : "";
        if (!isEventType(type)) {
          // Without an `instance`, as a path no route serves: the name is the client's text, whatever it wrote.
          return problemResponse(
            c,
            HttpProblem.notFound(
              "No event type of the catalog has this schema: each is at /events/schemas/<event type>.json, the types as /asyncapi.json lists them.",
            ),
            null,
          );
        }
        return c.json(schemas()[type], 200, { "Content-Type": "application/schema+json" });
      })
  );
}

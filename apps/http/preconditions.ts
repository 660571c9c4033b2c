// Conditional writes (RFC 9110 §13.1.1). The API issues no entity tags, so a write sent with If-Match naming one
// cannot meet its condition: it is a 412 and nothing is done, rather than the header ignored and the write
// applied over a change the client has not seen (the lost update it asked to be protected from). `*` asks only
// that the record exist, which the route itself answers (a 404 when it does not).
import { z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { HttpProblem } from "./problem.ts";

export const ifMatchHeader = z.object({
  "if-match": z.string().optional().openapi({
    description:
      "Only `*` is met (the record exists). The API issues no entity tags, so a write conditional on one is a 412.",
  }),
});

export const noEntityTags: MiddlewareHandler = async function noEntityTags(c, next) {
  const ifMatch = c.req.header("if-match");
  if (ifMatch !== undefined && ifMatch.trim() !== "*") {
    throw new HttpProblem(
      412,
      "Precondition Failed",
      "This API issues no entity tags: none can match. Send the write without If-Match (or with If-Match: *).",
      [{ field: "header.if-match", message: "names an entity tag, and none can match" }],
    );
  }
  await next();
};

// Conditional writes (RFC 9110 §13.1.1, §13.1.2). The API issues no entity tags, so a write sent with If-Match
// naming one cannot meet its condition: it is a 412 and nothing is done, rather than the header ignored and the
// write applied over a change the client has not seen (the lost update it asked to be protected from). `*` asks
// only that the record exist, which the route itself answers (a 404 when it does not). If-None-Match: `*` asks
// the opposite, that the target have no current representation: a PUT, PATCH or DELETE writes a record that
// exists whenever the write can be done, so there it is a 412 too, where it was ignored and the write applied
// over the record its client believed absent. A POST's target (a collection, or an action such as a
// cancellation) has no representation of its own, so `*` is met there, and an entity tag never matches.
import { z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { HttpProblem } from "./problem.ts";

export const ifMatchHeader = z.object({
  "if-match": z.string().optional().openapi({
    description:
      "Only `*` is met (the record exists). The API issues no entity tags, so a write conditional on one is a 412.",
  }),
});

export const ifNoneMatchHeader = z.object({
  "if-none-match": z.string().optional().openapi({
    description:
      "`*` is never met by a PUT, PATCH or DELETE, whose record exists whenever the write can be done: a 412. On a POST, whose target has no representation of its own, `*` is met; an entity tag is always met, as the API issues none.",
  }),
});

/** The methods whose target is the record they write, which exists whenever the write can be done. */
const WRITES_A_RECORD = new Set(["PUT", "PATCH", "DELETE"]);

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
  // A `*` among entity tags is no valid field value; read as `*`, it refuses rather than writes.
  const ifNoneMatch = c.req.header("if-none-match");
  if (
    ifNoneMatch !== undefined &&
    WRITES_A_RECORD.has(c.req.method) &&
    ifNoneMatch.split(",").some((member) => member.trim() === "*")
  ) {
    throw new HttpProblem(
      412,
      "Precondition Failed",
      "If-None-Match: * asks that the record not exist, and this write is to a record that does. Send the write without it.",
      [{ field: "header.if-none-match", message: "is *, and the record this write changes exists" }],
    );
  }
  await next();
};

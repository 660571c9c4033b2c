// Conditional writes (RFC 9110 §13.1.1, §13.1.2). The API issues no entity tags, so a write sent with If-Match
// naming one cannot meet its condition: it is a 412 and nothing is done, rather than the header ignored and the
// write applied over a change the client has not seen (the lost update it asked to be protected from). `*` asks
// only that the record exist, which the route itself answers (a 404 when it does not). If-None-Match: `*` asks
// the opposite, that the target have no current representation: a PUT, PATCH or DELETE writes a record that
// exists whenever the write can be done, so there it is a 412 too, where it was ignored and the write applied
// over the record its client believed absent. A POST's target (a collection, or an action such as a
// cancellation) has no representation of its own, so `*` is met there, and an entity tag never matches.
//
// A read is conditional the same way (RFC 9110 §13.2.2): If-Match naming an entity tag is a 412 before anything
// is read; If-None-Match: `*` is false wherever the read finds its record, so a read that would answer 2xx
// answers 304 Not Modified instead, without a body. A read that finds nothing answers as it would unconditioned
// (a 404), as §13.2.1 asks of any answer other than a 2xx.
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

export const readIfMatchHeaders = z.object({
  "if-match": z.string().optional().openapi({
    description:
      "Only `*` is met (the record exists). The API issues no entity tags, so a read conditional on one is a 412.",
  }),
  "if-none-match": z.string().optional().openapi({
    description:
      "`*` is false wherever the record exists: the read answers 304 Not Modified, without a body. An entity tag is never matched, as the API issues none: the read answers as it would without it.",
  }),
});

function refuseEntityTags(ifMatch: string | undefined, what: "read" | "write") {
  if (ifMatch !== undefined && ifMatch.trim() !== "*") {
    throw new HttpProblem(
      412,
      "Precondition Failed",
      `This API issues no entity tags: none can match. Send the ${what} without If-Match (or with If-Match: *).`,
      [{ field: "header.if-match", message: "names an entity tag, and none can match" }],
    );
  }
}

/** Whether If-None-Match holds `*`: a `*` among entity tags is no valid field value, and is read as `*`. */
const namesAnyRecord = (ifNoneMatch: string | undefined) =>
  ifNoneMatch?.split(",").some((member) => member.trim() === "*") ?? false;

/** The headers a 304 keeps of the answer it stands for (RFC 9110 §15.4.5): none about a body. */
const BODY_HEADERS = ["content-type", "content-length", "content-encoding", "content-disposition"];

export const conditionalRead: MiddlewareHandler = async function conditionalRead(c, next) {
  refuseEntityTags(c.req.header("if-match"), "read");
  await next();
  if (namesAnyRecord(c.req.header("if-none-match")) && c.res.status >= 200 && c.res.status < 300) {
    const headers = new Headers(c.res.headers);
    for (const name of BODY_HEADERS) headers.delete(name);
    await c.res.body?.cancel();
    // In place of the answer, not merged into it: Hono would copy its Content-Length back.
    c.res = undefined;
    c.res = new Response(null, { status: 304, headers });
  }
};

export const noEntityTags: MiddlewareHandler = async function noEntityTags(c, next) {
  refuseEntityTags(c.req.header("if-match"), "write");
  if (WRITES_A_RECORD.has(c.req.method) && namesAnyRecord(c.req.header("if-none-match"))) {
    throw new HttpProblem(
      412,
      "Precondition Failed",
      "If-None-Match: * asks that the record not exist, and a PUT, PATCH or DELETE writes only a record that does: it cannot be met. Send the write without it.",
      [{ field: "header.if-none-match", message: "is *, and this write is only to a record that exists" }],
    );
  }
  await next();
};

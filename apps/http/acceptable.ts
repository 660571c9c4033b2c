// What a request's Accept header admits decides whether it is answered: a client that takes none of the media
// types a route answers in gets a 406 (RFC 9110 §15.5.7), not an answer it said it cannot read. Refusals are
// problem documents whatever Accept says, as RFC 9110 permits; so is the 406 itself.
import type { Context, MiddlewareHandler } from "hono";
import type { AuthEnv } from "./auth.ts";
import { admits } from "./mediaType.ts";
import { HttpProblem, problemResponse } from "./problem.ts";

const PROBLEM = "application/problem+json";

/** The 406 for a request whose Accept admits none of `mediaTypes`, naming them. */
function notAcceptable(mediaTypes: readonly string[]): HttpProblem {
  const answers = mediaTypes.map((mediaType) => mediaType.split(";")[0]?.trim()).join(" or ");
  return new HttpProblem(
    406,
    "Not Acceptable",
    `The answer is ${answers}, which the Accept header does not admit.`,
    [{ field: "header.accept", message: `admits no ${answers}` }],
  );
}

/** Throws the 406 unless the request's Accept admits one of `mediaTypes`. */
export function requireAcceptable(c: Context, mediaTypes: readonly string[]): void {
  const accept = c.req.header("accept");
  if (!mediaTypes.some((mediaType) => admits(accept, mediaType))) throw notAcceptable(mediaTypes);
}

/** Before a route does anything: its answers are in one of `mediaTypes`. */
export function acceptable(mediaTypes: readonly string[]): MiddlewareHandler {
  return async function acceptableAnswer(c, next) {
    requireAcceptable(c, mediaTypes);
    await next();
  };
}

/**
 * After a public route has answered (it reads nothing personal and writes nothing): its answer, in the media type
 * it was made in (the docs' HTML, the console's scripts, the metrics' text, a schema's `application/schema+json`),
 * is replaced by the 406 when Accept does not admit it. An answer behind authentication is never replaced, its
 * route having decided before it acted (`acceptable`); nor is a problem document.
 */
export function publicAnswersAcceptable(): MiddlewareHandler<AuthEnv> {
  return async function publicAnswerAcceptable(c, next) {
    await next();
    const contentType = c.res.headers.get("content-type");
    if (c.get("principal") !== undefined || contentType === null) return;
    if (contentType.startsWith(PROBLEM) || admits(c.req.header("accept"), contentType)) return;
    // In place of the answer, not merged into it; and never kept by a cache, as the answer may be (an asset, a day).
    c.res = undefined;
    c.res = problemResponse(c, notAcceptable([contentType]));
    c.res.headers.set("Cache-Control", "no-store");
  };
}

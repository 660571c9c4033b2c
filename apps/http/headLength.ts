// A HEAD's answer is the GET's without its body (Hono runs the GET route and drops the body): this gives it the
// Content-Length the GET's answer carries, which a client reads a size from before it downloads. RFC 9110
// §9.3.2 lets a HEAD leave it out; the GET's answers all have one but an export's. (Node closes the connection
// after a HEAD whose answer names one: a HEAD is rare enough that its connection is not worth keeping.)
import type { MiddlewareHandler } from "hono";
import { mediaTypeOf } from "./mediaType.ts";

/**
 * The exports' media types: an export is streamed, its length known only once it has ended, and it may be any
 * size, so its GET sends no Content-Length, and a HEAD reads none of it.
 */
const STREAMED_TYPES = new Set(["text/csv", "application/x-ndjson"]);

export const headContentLength: MiddlewareHandler = async function headContentLength(c, next) {
  await next();
  if (c.req.method !== "HEAD") return;
  const answer = c.res;
  if (answer.body === null || answer.headers.has("content-length")) return;
  const type = mediaTypeOf(answer.headers.get("content-type") ?? "")?.essence;
  if (type !== undefined && STREAMED_TYPES.has(type)) return;
  // Read as the GET sends it: a page of the audit history streamed as one (over a megabyte) too.
  const length = (await answer.arrayBuffer()).byteLength;
  const headers = new Headers(answer.headers);
  headers.set("Content-Length", String(length));
  // In place of the answer, not merged into it (Hono would keep the old one's headers).
  c.res = undefined;
  c.res = new Response(null, { status: answer.status, headers });
};

// Conditional requests (RFC 9110 §13). Every JSON answer of a read, of a PUT or PATCH, of an action whose
// answer is its record, and of a creation whose 201 is the new record, carries an entity tag (ETag): a hash of
// the representation's bytes, so it changes exactly when what a GET answers changes. It is a strong validator:
// two answers with one tag are the same bytes.
//
// A write to a record is conditional on that record as its GET answers it: a PUT, PATCH or DELETE on its own
// path, or a write whose route names the record's GET (`conditionalOn`: an action such as a cancellation, or a
// part of the record such as a patient's consents). If-Match naming the tag a client read makes the write happen
// only if nobody changed the record since (the lost update it asks to be protected from); naming any other tag,
// it is a 412 and nothing is written. If-None-Match `*` asks that the record not exist: a 412 where it does. The
// route evaluates both once it has found the record and the caller may write it (`assertWriteConditions`), so a
// request answers the 400, 403, 404 or 410 it would answer unconditioned (§13.2.1), and under the transaction's
// lock on the record, so that no other write slips in between the comparison and the change. A route that names
// a record and does not compare them rolls its write back rather than do it unconditioned (`writeConditions`).
// A POST to a collection has no representation of its own (no GET answers it), so If-Match, which asks that the
// target have one (`*`) or one of the tags named, is a 412 that does nothing; If-None-Match is met.
//
// A read evaluates them against the tag of the answer it found (§13.2.2): If-Match naming another tag is a 412;
// If-None-Match naming that tag (weak comparison), or `*`, is a 304 Not Modified, without a body. A read that
// finds nothing answers as it would unconditioned (a 404). The record was read to compare it, so a read answered
// 304 or 412 is recorded in the audit history as the 200 would have been.
import { createHash } from "node:crypto";
import { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { mediaTypeOf } from "./mediaType.ts";
import { HttpProblem } from "./problem.ts";

const ENTITY_TAG_SYNTAX = 'a list of entity tags (`"…"` or `W/"…"`), or `*`';

/**
 * The conditions a write takes. `tagOf` says whose ETag they name: its record's (a PUT, PATCH or DELETE, or a
 * write whose route names a record), or null for a POST to a collection, which has none.
 */
export function writeConditionHeaders(tagOf: string | null) {
  return z.object({
    "if-match": z
      .string()
      .optional()
      .openapi({
        description:
          tagOf === null
            ? `${ENTITY_TAG_SYNTAX}. This POST's target is a collection, which has no representation (no GET answers it): any If-Match, \`*\` too, is a 412 that does nothing.`
            : `${ENTITY_TAG_SYNTAX}. Write only if ${tagOf} is one of them (strong comparison: a weak tag never matches); else a 412 that does nothing. \`*\`: the record exists.`,
      }),
    "if-none-match": z
      .string()
      .optional()
      .openapi({
        description:
          tagOf === null
            ? `${ENTITY_TAG_SYNTAX}. This POST's target is a collection, which has no representation of its own: always met.`
            : `${ENTITY_TAG_SYNTAX}. Write only if ${tagOf} is none of them (weak comparison); \`*\` is a 412 wherever the record exists.`,
      }),
  });
}

export const readIfMatchHeaders = z.object({
  "if-match": z
    .string()
    .optional()
    .openapi({
      description: `${ENTITY_TAG_SYNTAX}. Answer only if the answer's ETag is one of them (strong comparison); else a 412. \`*\`: the record exists.`,
    }),
  "if-none-match": z
    .string()
    .optional()
    .openapi({
      description: `${ENTITY_TAG_SYNTAX}. If the answer's ETag is one of them (weak comparison), or for \`*\` wherever the record exists, the read answers 304 Not Modified, without a body.`,
    }),
});

/** The header every JSON success of a read, a PUT, a PATCH and a POST acting on or creating a record carries. */
export const entityTagHeader = {
  ETag: {
    description:
      "The representation's entity tag: a strong validator, which changes whenever the answer's content does. Send it back in `If-Match` to write only over the record as read, or in `If-None-Match` to read it only if it changed.",
    schema: { type: "string" as const },
  },
};

/** The entity tag of a representation: the first 128 bits of its bytes' SHA-256, base64url, quoted. */
export function entityTagOf(representation: string | Uint8Array): string {
  return `"${createHash("sha256").update(representation).digest("base64url").slice(0, 22)}"`;
}

interface EntityTag {
  weak: boolean;
  /** With its quotes. */
  opaque: string;
}

/** `*`, or the tags a header lists. */
type Condition = "*" | EntityTag[];

/**
 * One member of a list (RFC 9110 §5.6.1: members separated by commas, blank ones allowed) and the comma or end
 * after it: `*`, or an entity tag, whose quoted characters may include a comma.
 */
const LIST_MEMBER = /[ \t]*(?:(\*)|(W\/)?("[\x21\x23-\x7e\x80-\xff]*"))?[ \t]*(,|$)/y;
type ConditionHeader = "if-match" | "if-none-match";

/**
 * A condition header as RFC 9110 §13.1.1 writes it; a malformed one is a 400 naming it, as an unreadable
 * condition can be neither met nor ignored. A `*` among tags, or `*` more than once, is no valid value either:
 * If-None-Match reads it as `*`, the stronger condition there, as it always has; If-Match refuses it.
 */
function conditionOf(c: Context, header: ConditionHeader): Condition | undefined {
  const value = c.req.header(header);
  if (value === undefined) return undefined;
  const tags: EntityTag[] = [];
  let stars = 0;
  LIST_MEMBER.lastIndex = 0;
  for (;;) {
    const start = LIST_MEMBER.lastIndex;
    const member = LIST_MEMBER.exec(value);
    if (member === null) throw malformed(header);
    const [, star, weak, opaque, separator] = member;
    if (star !== undefined) stars++;
    if (opaque !== undefined) tags.push({ weak: weak !== undefined, opaque });
    if (separator === "" || LIST_MEMBER.lastIndex === start) break;
  }
  if (stars > 0 && header === "if-none-match") return "*";
  // `*` alone; `*, *` is no more a value of the grammar than `*` among tags.
  if (stars === 1 && tags.length === 0) return "*";
  if (stars > 0 || tags.length === 0) throw malformed(header);
  return tags;
}

const malformed = (header: ConditionHeader) =>
  HttpProblem.invalid([{ field: `header.${header}`, message: `must be ${ENTITY_TAG_SYNTAX}` }]);

function conditionsOf(c: Context) {
  return { ifMatch: conditionOf(c, "if-match"), ifNoneMatch: conditionOf(c, "if-none-match") };
}

/**
 * Whether a condition names the current representation of a record that exists, whose tag is `current` (undefined
 * for an answer that has none): strongly, as If-Match compares, or weakly. `*` names any.
 */
function names(condition: Condition, current: string | undefined, comparison: "strong" | "weak"): boolean {
  if (condition === "*") return true;
  if (current === undefined) return false;
  return condition.some((tag) => tag.opaque === current && (comparison === "weak" || !tag.weak));
}

const preconditionFailed = (header: ConditionHeader, detail: string, message: string) =>
  new HttpProblem(412, "Precondition Failed", detail, [{ field: `header.${header}`, message }]);

/**
 * If-Match named no tag of the record a write would change (nothing was done), or of a read's answer (not sent;
 * the record was read to compare its tag, and a read of the audit history is recorded as the read it is).
 */
const changedSince = (what: "record" | "answer") =>
  preconditionFailed(
    "if-match",
    `The ${what} is not as the entity tags in If-Match name it: it changed since (or never had them). ` +
      (what === "record"
        ? "Nothing was done: read it again, and send its ETag."
        : "It was not sent: read it again, without If-Match or with its current ETag."),
    "names no entity tag of the current representation",
  );

/**
 * What a write's conditions name, as its route declares it (openapi.ts, securedRoute): a record's ETag, which the
 * route compares (assertWriteConditions), or none (a POST to a collection, which answerOnce refuses a tag for).
 */
export interface WriteTarget {
  /** The path of the GET whose ETag the conditions name; null when they name none. */
  record: string | null;
  /** Whether the answer is a record as its GET answers it (that one after the write, or a new one): its ETag. */
  answersWithRecord: boolean;
  /**
   * Where the answer names that record in Content-Location (RFC 9110 §8.7), when it is not the request's path:
   * the record's path with the request's ids, or the Location of the record a POST created.
   */
  contentLocation: "record" | "location" | null;
}

/** Each write request's target, and whether its route has evaluated its conditions. */
const writes = new WeakMap<Context, { target: WriteTarget; evaluated: boolean }>();

/** Whether the request carries If-Match or If-None-Match: a write need not read its record's representation otherwise. */
export function sendsWriteConditions(c: Context): boolean {
  const { ifMatch, ifNoneMatch } = conditionsOf(c);
  return ifMatch !== undefined || ifNoneMatch !== undefined;
}

/**
 * Evaluates a write's conditions against its record as it is now (its representation as its GET answers it; none
 * for a record that has none, a deleted patient's), inside the transaction that changes it and after the checks
 * that would refuse it unconditioned: a 412 where they fail.
 */
export function assertWriteConditions(c: Context, current: unknown): void {
  const write = writes.get(c);
  if (write) write.evaluated = true;
  const { ifMatch, ifNoneMatch } = conditionsOf(c);
  if (ifMatch === undefined && ifNoneMatch === undefined) return;
  const tag = current === undefined ? undefined : entityTagOf(JSON.stringify(current));
  if (ifMatch !== undefined && (tag === undefined || !names(ifMatch, tag, "strong"))) {
    throw changedSince("record");
  }
  if (ifNoneMatch !== undefined && tag !== undefined && names(ifNoneMatch, tag, "weak")) {
    throw preconditionFailed(
      "if-none-match",
      ifNoneMatch === "*"
        ? "If-None-Match: * asks that the record not exist, and it does: it cannot be met. Send the write without it."
        : "The record is as an entity tag in If-None-Match names it. Nothing was done.",
      ifNoneMatch === "*" ? "is *, and the record exists" : "names the current representation's entity tag",
    );
  }
}

/**
 * The write's side of its conditions in answerOnce, which every write runs: before the work, a target that has no
 * representation refuses If-Match, whose every value asks for one (after the path, query and headers are
 * validated, so their 400 comes first); after it,
 * still inside its transaction, a route that names a record must have evaluated them: else the write rolls back
 * (a 500) rather than be done unconditioned.
 */
export const writeConditions = {
  before(c: Context): void {
    const write = writes.get(c);
    if (write?.target.record !== null) return;
    const { ifMatch } = conditionsOf(c);
    if (ifMatch !== undefined) {
      throw preconditionFailed(
        "if-match",
        "This POST's target is a collection, which has no representation: no entity tag can match, nor `*`. Nothing was done: send the write without If-Match.",
        ifMatch === "*"
          ? "is *, and this target has no representation"
          : "names an entity tag, and this target has none",
      );
    }
  },
  after(c: Context): void {
    const write = writes.get(c);
    if (!write || write.target.record === null || write.evaluated) return;
    const { ifMatch, ifNoneMatch } = conditionsOf(c);
    if (ifMatch !== undefined || ifNoneMatch !== undefined) {
      throw new Error(`${c.req.method} ${c.req.routePath} did not evaluate its If-Match or If-None-Match`);
    }
  },
};

/** The headers a 304 keeps of the answer it stands for (RFC 9110 §15.4.5): none about a body. */
const BODY_HEADERS = ["content-type", "content-length", "content-encoding", "content-disposition"];

const succeeded = (c: Context) => c.res.status >= 200 && c.res.status < 300;

/** The JSON answers a route streams (streamedAnswer): they have no entity tag. */
const streamed = new WeakSet<Response>();

/**
 * Marks a JSON answer the route streams rather than holds whole (an audit page of more than a chunk of
 * envelopes): it gets no entity tag, since the tag is a digest of the whole body, which would have to be held
 * before its first byte is sent.
 */
export function streamedAnswer(answer: Response): Response {
  streamed.add(answer);
  return answer;
}

/**
 * Gives a JSON success its entity tag, from the bytes it sends. Other answers (an export's stream, a streamed
 * page) have none: reading them here would hold them whole.
 */
async function tagAnswer(c: Context): Promise<string | undefined> {
  const answer = c.res;
  const contentType = answer.headers.get("content-type");
  if (!succeeded(c) || contentType === null || mediaTypeOf(contentType)?.essence !== "application/json") {
    return undefined;
  }
  if (streamed.has(answer)) return undefined;
  const bytes = new Uint8Array(await answer.arrayBuffer());
  const tag = entityTagOf(bytes);
  const headers = new Headers(answer.headers);
  headers.set("ETag", tag);
  // In place of the answer, not merged into it (Hono would keep the old one's headers).
  c.res = undefined;
  c.res = new Response(bytes, { status: answer.status, headers });
  return tag;
}

export const conditionalRead: MiddlewareHandler = async function conditionalRead(c, next) {
  // Read first: a malformed condition is a 400 before anything is read.
  const { ifMatch, ifNoneMatch } = conditionsOf(c);
  await next();
  if (!succeeded(c)) return;
  const tag = await tagAnswer(c);
  if (ifMatch !== undefined && !names(ifMatch, tag, "strong")) {
    // Hono builds the refusal on the answer standing in the context: this one keeps the request's headers
    // (X-Correlation-Id) and none about the answer it replaces (its ETag, an export's file name).
    await replaceWithoutBody(c, 200, [...BODY_HEADERS, "etag"]);
    throw changedSince("answer");
  }
  if (ifNoneMatch !== undefined && names(ifNoneMatch, tag, "weak")) {
    await replaceWithoutBody(c, 304, BODY_HEADERS);
  }
};

/** Puts an answer without a body in place of the context's, with its headers but the ones named. */
async function replaceWithoutBody(c: Context, status: number, dropped: readonly string[]): Promise<void> {
  const headers = new Headers(c.res.headers);
  for (const name of dropped) headers.delete(name);
  await c.res.body?.cancel();
  // In place of the answer, not merged into it: Hono would copy the dropped headers back.
  c.res = undefined;
  c.res = new Response(null, { status, headers });
}

/**
 * A write's conditions, read before anything is (a malformed one is a 400) and evaluated by answerOnce and the
 * route (writeConditions, assertWriteConditions). An answer that is the record after the write gets its ETag, and
 * names the record in Content-Location where it is not the request's path (RFC 9110 §8.7).
 */
export function conditionalWrite(target: WriteTarget): MiddlewareHandler {
  return async function conditionalWrite(c, next) {
    conditionsOf(c);
    writes.set(c, { target, evaluated: false });
    await next();
    if (!target.answersWithRecord || (await tagAnswer(c)) === undefined) return;
    if (target.contentLocation === "location") {
      c.header("Content-Location", c.res.headers.get("location") ?? undefined);
    } else if (target.contentLocation === "record") {
      // The ids as the route read them (lower case), which the record's own path has.
      const params = c.req.valid("param" as never) as Record<string, string>;
      const record = target.record as string;
      c.header(
        "Content-Location",
        record.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? ""),
      );
    }
  };
}

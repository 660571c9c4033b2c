// How services declare routes for @hono/zod-openapi: JSON and problem bodies, and `securedRoute`, which gives
// a route its roles (checked before the input is), its bearer-token security and its 401/403 answers.
import { isUtf8 } from "node:buffer";
import { type IncomingMessage, maxHeaderSize } from "node:http";
import type { Readable } from "node:stream";
import { createRoute, type RouteConfig, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { REQUEST_TIMEOUT_MS } from "../../process/httpServer.ts";
import { acceptable } from "./acceptable.ts";
import { allowRoles } from "./access.ts";
import { ambiguousMember } from "./ambiguousJson.ts";
import type { Role } from "./auth.ts";
import { idempotencyKeyHeader } from "./idempotency.ts";
import { mediaTypeOf } from "./mediaType.ts";
import {
  conditionalRead,
  conditionalWrite,
  entityTagHeader,
  readIfMatchHeaders,
  type WriteTarget,
  writeConditionHeaders,
} from "./preconditions.ts";
import { HttpProblem, MAX_LISTED_PROBLEMS, shownSegment, unsupportedContentType } from "./problem.ts";
import { correlationIdRequestHeader } from "./requestContext.ts";
import { requestSchema } from "./requestSchema.ts";
import { BEARER_AUTH, bodyTooLarge, MAX_BODY_BYTES } from "./service.ts";

export const json = <T extends z.ZodType>(schema: T) => ({ "application/json": { schema } });

/** An RFC 9457 problem document, exactly as `problemResponse` writes it. */
const problemSchema = z
  .strictObject({
    type: z
      .string()
      .openapi({ description: "Always `about:blank`: the status and title say what happened." }),
    title: z.string(),
    status: z.int().min(400).max(599),
    detail: z.string().optional(),
    instance: z
      .string()
      .openapi({
        description:
          "The request's path, as the route serving it reads it: an id in lower case, and anything else sent in an id's place as the parameter (`/patients/{id}`); left out for a path no route serves.",
      })
      .optional(),
    errors: z
      .array(
        z.strictObject({
          field: z.string().openapi({
            description:
              "Where: `body.email`, `path.id`, `query.limit`, `header.x-correlation-id`. A name the client chose that the schema does not know or refused (an unknown field, a repeated member, a map key that breaks its rule) is shown as sent when it reads as a field name (a letter, `_` or `$`, then up to 63 letters, digits, `_`, `$` or `-`), else as `[name]`.",
          }),
          message: z.string(),
        }),
      )
      .max(MAX_LISTED_PROBLEMS)
      .optional()
      .openapi({ description: `Each bad field, the first ${MAX_LISTED_PROBLEMS} when there are more.` }),
  })
  .openapi("Problem", {
    example: {
      type: "about:blank",
      title: "Bad Request",
      status: 400,
      detail: "The request is invalid; see errors for each field.",
      instance: "/patients",
      errors: [{ field: "body.phone", message: "Invalid E.164 phone number" }],
    },
  });

/** Every answer carries the request's correlation id: the one it sent, or a new one. */
const correlationIdHeader = {
  "X-Correlation-Id": {
    description: "The request's X-Correlation-Id (lower case), or a new UUID when it sent none.",
    schema: { type: "string" as const, format: "uuid" },
  },
};

export const problem = (description: string, headers: Record<string, HeaderObject> = {}) => ({
  description,
  headers: { ...correlationIdHeader, ...headers },
  content: { "application/problem+json": { schema: problemSchema } },
});

type HeaderObject = {
  description: string;
  schema: { type: "string" | "integer"; format?: string; minimum?: number };
};

/** A 201 whose `Location` header is the new resource's path, e.g. `/patients/{id}`. */
export const createdAt = <T extends z.ZodType>(description: string, schema: T, location: string) => ({
  description,
  headers: {
    Location: { description: `The new resource: \`${location}\``, schema: { type: "string" as const } },
  },
  content: json(schema),
});

/** A 503 that tells the caller when to come back. */
export const retryLater = (description: string) =>
  problem(description, {
    "Retry-After": {
      description: "Seconds to wait before retrying.",
      schema: { type: "integer", minimum: 1 },
    },
  });

export interface RouteAccess {
  /** The service that answers, recorded as the source of a refusal's violation event. */
  source: string;
  /** What the route reads or writes, as audit events name it: `patient`, `appointment`, ... */
  resource: string;
  roles: readonly Role[];
  /** Which records of the resource each role reaches, for the reader of the API document. */
  rule?: string;
}

const NO_QUERY = z.strictObject({});

/** Whether a role among these reaches only some patients (patientAccess.ts). */
const reachesSomePatients = (roles: readonly Role[]) =>
  roles.some((role) => role === "patient" || role === "provider");

type UnsecuredRoute<P extends string> = Omit<RouteConfig, "path" | "middleware" | "security"> & { path: P };

export type RouteOptions =
  | {
      /**
       * For a write to a record that is not at its own path, the path of that record's GET: an action on it
       * (`/appointments/{id}/cancel`), or a part of it that has no GET (a patient's consents). Its conditions are
       * then on that record as its GET answers it, as a PUT, PATCH or DELETE's are on its own record (the route
       * calls assertWriteConditions; preconditions.ts).
       */
      conditionalOn: string;
      /**
       * Whether the answer of such a write is that record after it: then it carries the record's ETag and names it
       * in Content-Location. Not an erasure's report, nor the consents alone.
       */
      answersWithRecord?: boolean;
    }
  | {
      /**
       * For a POST to a collection whose 201 answers with the record it created as that record's GET
       * (`<collection>/{id}`) answers it: the answer then carries the record's ETag, for a first conditional write
       * without a read, and names it in Content-Location (its Location).
       */
      creates: true;
    }
  | Record<string, never>;

/**
 * A route's query, path parameters and body as it checks and publishes them: each free text held to the request's
 * rule (requestSchema.ts), where the events' field schemas they are built from keep the events' own.
 */
function requestSchemas(request: RouteConfig["request"]): RouteConfig["request"] {
  if (request === undefined) return undefined;
  const { query, params, body } = request;
  return {
    ...request,
    ...(query ? { query: requestSchema(query) } : {}),
    ...(params ? { params: requestSchema(params) } : {}),
    ...(body
      ? {
          body: {
            ...body,
            content: Object.fromEntries(
              Object.entries(body.content).map(([mediaType, media]) => [mediaType, requestMedia(media)]),
            ),
          },
        }
      : {}),
  };
}

/** A body's media type with its schema held to the request's rule, when it is a zod schema. */
function requestMedia<M>(media: M): M {
  const schema = (media as { schema?: unknown }).schema;
  return schema instanceof z.ZodType ? { ...media, schema: requestSchema(schema) } : media;
}

/** What a write's conditions name, and whether its answer is that record (preconditions.ts). */
function writeTarget(route: UnsecuredRoute<string>, options: RouteOptions): WriteTarget {
  if ("conditionalOn" in options) {
    const answersWithRecord = options.answersWithRecord === true;
    return {
      record: options.conditionalOn,
      answersWithRecord,
      contentLocation: answersWithRecord ? "record" : null,
    };
  }
  if (route.method === "post") {
    const creates = "creates" in options;
    return { record: null, answersWithRecord: creates, contentLocation: creates ? "location" : null };
  }
  return { record: route.path, answersWithRecord: route.method !== "delete", contentLocation: null };
}

export function securedRoute<P extends string, R extends UnsecuredRoute<P>>(
  access: RouteAccess,
  route: R,
  options: RouteOptions = {},
) {
  const roles = `Roles: ${access.roles.join(", ")}.${access.rule ? ` ${access.rule}` : ""}`;
  const takesBody = route.request?.body !== undefined;
  // Every route that changes something takes an Idempotency-Key, the same way (idempotency.ts, answerOnce).
  const takesIdempotencyKey = changesState(route.method);
  const answers = answerMediaTypes(route.responses);
  const headers = (route.request?.headers as z.ZodObject | undefined) ?? z.object({});
  const target = takesIdempotencyKey ? writeTarget(route, options) : undefined;
  return createRoute({
    operationId: operationIdOf(route.method, route.path),
    ...route,
    // Documented on every route; checked once for all of them, first (requestContext.ts).
    request: {
      // A route that declares no query refuses every parameter, as a route that declares one refuses the
      // parameters it does not name: a filter or option the route does not have is never silently ignored.
      query: NO_QUERY,
      ...requestSchemas(route.request),
      headers: headers.extend({
        ...(takesIdempotencyKey
          ? {
              ...idempotencyKeyHeader.shape,
              ...writeConditionHeaders(target?.record == null ? null : `the ETag of \`GET ${target.record}\``)
                .shape,
            }
          : readIfMatchHeaders.shape),
        "x-correlation-id": correlationIdRequestHeader,
      }),
    } as R["request"],
    description: route.description ? `${route.description}\n\n${roles}` : roles,
    "x-roles": [...access.roles],
    middleware: [
      allowRoles(access.source, access.resource, access.roles),
      // After the role check, so that a refused role is recorded whatever it accepts; before anything is read.
      acceptable(answers),
      // Before the body is read: a malformed condition, or a POST's that cannot be met, does nothing; the
      // answer's entity tag, after (preconditions.ts).
      target ? conditionalWrite(target) : conditionalRead,
      wellFormedQuery,
      takesBody ? utf8JsonBody(route.request?.body?.required === true) : noBody,
    ],
    security: [{ [BEARER_AUTH]: [] }],
    responses: withCommonHeaders(
      {
        // Every route reads a path id, a header or a body that can be malformed.
        400: problem(
          `Invalid input: a malformed path id, header, query or body, a query parameter the operation does not declare, a body object naming a member twice, a number written with more digits than a 64-bit float holds, or a body that starts with a byte order mark (each field named in \`errors\`, the first ${MAX_LISTED_PROBLEMS} of them)`,
        ),
        // Every route needs Postgres, and a token issuer's keys when tokens are checked against a JWKS; a
        // restored database takes no writes until an operator re-anchors it (relay:rebase); nothing about a
        // patient is read or written while the service's master keys cannot unwrap their key (PHI_MASTER_KEYS).
        503: retryLater(
          "The database or the token issuer's keys cannot be reached now, the database ended the request's work (a timeout, an operator, a lack of resources), a restored database takes no writes yet, or the service's master keys cannot open the patient's data key",
        ),
        ...route.responses,
        401: problem(
          "No valid bearer token (a JWT in JWS compact serialization: three base64url parts, without `=` padding)",
          {
            "WWW-Authenticate": {
              description:
                'The challenge (RFC 6750): `Bearer realm="healthcare-platform"`, with `error="invalid_token"` when a token was sent and refused.',
              schema: { type: "string" },
            },
          },
        ),
        406: problem(
          `The Accept header admits none of the media types the operation answers in (${answers.join(", ")}); refusals are \`application/problem+json\` whatever it admits`,
        ),
        403: problem("The role or the record is not the caller's (recorded as audit.compliance.violation)"),
        // Every request's body is limited before it reaches a route, one that takes none included.
        413: problem(
          takesBody
            ? `The body is over ${MAX_BODY_BYTES} bytes, or the event it would write is over the event limit`
            : `A body over ${MAX_BODY_BYTES} bytes (the operation takes none: a shorter one is a 400)`,
        ),
        // Refused by the HTTP server before any route is reached (process/httpServer.ts), whatever the operation.
        408: problem(
          `The request was not received whole within ${REQUEST_TIMEOUT_MS / 1000} s of its first byte; its connection is closed`,
        ),
        414: problem(`The request line alone is over ${maxHeaderSize} bytes: the URL is too long`),
        431: problem(
          `The request line and headers are over ${maxHeaderSize} bytes together (a long URL counts)`,
        ),
        417: problem("An `Expect` header other than `100-continue`, which is the one expectation met"),
        ...(takesBody
          ? {
              415: problem(
                "The body is not `application/json` in UTF-8, or is compressed (no `Content-Encoding` is accepted, and no `Transfer-Encoding` but `chunked`)",
              ),
            }
          : {}),
        ...(takesIdempotencyKey
          ? {
              412: problem(
                target?.record == null
                  ? "If-Match names an entity tag: this POST's target is a collection, which has none, so none can match; nothing is done"
                  : `If-Match names none of the current ETag of \`GET ${target.record}\` (the record changed since it was read, or has none now), or If-None-Match names it or is \`*\` (the record exists); nothing is done`,
              ),
            }
          : {
              304: {
                description:
                  "If-None-Match names the answer's entity tag, or is `*` and the read found what it asked for: not modified, no body (the headers of the 2xx it stands for, but those of a body)",
                // Only where the 2xx carries one: a JSON answer (an export's lines and rows are tagged by none).
                headers: answers.includes("application/json") ? entityTagHeader : {},
              },
              412: problem("If-Match names none of the answer's entity tag: nothing is answered"),
            }),
        ...(takesIdempotencyKey && !route.responses[422]
          ? { 422: problem("Idempotency-Key reused for another request") }
          : {}),
        // A kept answer about a patient is replayed only to a caller who reaches the patient now (idempotency.ts):
        // a patient's or a provider's; an admin, a service or an auditor reaches every patient.
        ...(takesIdempotencyKey && reachesSomePatients(access.roles) && !route.responses[404]
          ? {
              404: problem(
                "A retry with the Idempotency-Key of a request whose patient has been deleted since",
              ),
            }
          : {}),
        ...(takesIdempotencyKey && !route.responses[410] ? { 410: problem(ERASED_ANSWER_RETRIED) } : {}),
        // Never caused by the request itself ("no input is a server error"): a fault on the platform's side.
        500: problem(
          "A fault of the platform, not of the request (the database unreachable, say); retry later",
        ),
      },
      takesIdempotencyKey,
      route.method === "get" || target?.answersWithRecord === true,
      target?.contentLocation === "location"
        ? `${route.path}/{id}`
        : target?.contentLocation
          ? target.record
          : null,
    ),
  });
}

/**
 * The media types of a route's successes, one of which a request's Accept must admit. A route whose success
 * carries no content (a 204) is one of the JSON API's all the same: its client accepts `application/json`.
 */
function answerMediaTypes(responses: RouteConfig["responses"]): string[] {
  const mediaTypes = Object.entries(responses)
    .filter(([status]) => Number(status) < 300)
    .flatMap(([, response]) => Object.keys((response as { content?: object }).content ?? {}));
  return mediaTypes.length > 0 ? [...new Set(mediaTypes)] : ["application/json"];
}

/**
 * POST, PUT, PATCH and DELETE: the methods whose retry must not act twice. PUT and DELETE are idempotent in
 * intent only (RFC 9110 §9.2.2): a retried DELETE answers 404 where the first answered 204, and a retried PUT or
 * PATCH acts again on whatever the record has become since (undoing a change made in between) and leaves its
 * events again; each needs its first answer kept as much as a POST does.
 */
/**
 * The name a generated client gives the operation's function, made from its method and path, so unique as they
 * are: `GET /patients/{id}` is `getPatientsById`, `POST /patients/{id}/erasure` `postPatientsByIdErasure`.
 */
export function operationIdOf(method: RouteConfig["method"], path: string): string {
  const words = path.split("/").flatMap((segment) => {
    const parameter = /^\{(\w+)\}$/.exec(segment)?.[1];
    return parameter !== undefined ? ["by", parameter] : segment.split(/[-_.]/);
  });
  return [
    method,
    ...words.filter((word) => word !== "").map((word) => word[0]?.toUpperCase() + word.slice(1)),
  ].join("");
}

function changesState(method: RouteConfig["method"]): boolean {
  return method === "post" || method === "put" || method === "patch" || method === "delete";
}

/** The 410 of a route that takes an Idempotency-Key and has no 410 of its own (apps/http/idempotency.ts). */
export const ERASED_ANSWER_RETRIED =
  "A retry with the Idempotency-Key of a request whose kept answer was erased with its patient (GDPR erasure): nothing is done again";

/** What every answer behind authentication carries (privateAnswers.ts), refusals included (problem.ts). */
const privateAnswerHeaders = {
  "Cache-Control": {
    description: "`no-store`: no cache, a proxy's or the browser's, keeps an answer about personal data.",
    schema: { type: "string" as const, enum: ["no-store"] },
  },
  "X-Content-Type-Options": {
    description: "`nosniff`: the answer is read as the media type it is sent as, nothing else.",
    schema: { type: "string" as const, enum: ["nosniff"] },
  },
};

/**
 * Adds X-Correlation-Id, Cache-Control and X-Content-Type-Options to every response, Idempotent-Replayed to the
 * successes a key can replay, and ETag to the JSON successes of a route whose answer is its target's
 * representation (`tagged`: a GET, PUT or PATCH, a POST acting on a record or creating one, whose answer names the
 * record in Content-Location; preconditions.ts).
 */
function withCommonHeaders(
  responses: RouteConfig["responses"],
  replayable: boolean,
  tagged: boolean,
  /** The record a write's answer is, where it is not the request's path. */
  contentLocation: string | null,
): RouteConfig["responses"] {
  return Object.fromEntries(
    Object.entries(responses).map(([status, response]) => {
      const declared = response as { headers?: Record<string, unknown>; content?: object };
      const success = Number(status) < 300;
      const json = declared.content !== undefined && "application/json" in declared.content;
      return [
        status,
        {
          ...response,
          headers: {
            ...correlationIdHeader,
            ...privateAnswerHeaders,
            ...(success && replayable ? idempotentReplayedHeader : {}),
            ...(success && tagged && json ? entityTagHeader : {}),
            ...(success && json && contentLocation !== null
              ? {
                  "Content-Location": {
                    description: `The record the answer represents, after the write: \`${contentLocation}\`. The ETag is that record's, as its GET answers it.`,
                    schema: { type: "string" as const },
                  },
                }
              : {}),
            ...declared.headers,
          },
        },
      ];
    }),
  );
}

const idempotentReplayedHeader = {
  "Idempotent-Replayed": {
    description: "`true` when this is the kept answer to an earlier request with the same Idempotency-Key.",
    schema: { type: "string" as const, enum: ["true"] },
  },
};

/**
 * A JSON body as RFC 8259 sends it: `application/json` (in any spelling RFC 9110 allows, mediaType.ts), UTF-8
 * without a byte order mark, uncompressed, no object naming a member twice, no number that a 64-bit float holds
 * otherwise than written (ambiguousJson.ts). Request.json() would turn bytes that are not UTF-8 into U+FFFD and
 * store the altered text, drop a byte order mark, read a compressed body, or one in another charset, as if it
 * were plain UTF-8, keep the last of two values, and round a number: each is refused. Another JSON type (`application/merge-patch+json`,
 * `application/problem+json`) means something else and is a 415, as the document says, where Hono's validators
 * would read it as JSON. An optional body left empty is no body, whatever Content-Type says (clients send
 * `application/json` on a DELETE out of habit): it is not read as malformed JSON.
 */
function utf8JsonBody(required: boolean): MiddlewareHandler {
  return async (c, next) => {
    const encoding = c.req.header("content-encoding")?.trim().toLowerCase();
    if (encoding !== undefined && encoding !== "" && encoding !== "identity") {
      throw new HttpProblem(
        415,
        "Unsupported Media Type",
        `Content-Encoding ${encoding} is not accepted: send the body uncompressed.`,
        [{ field: "header.content-encoding", message: "is not accepted: the body is sent uncompressed" }],
      );
    }
    // Node's parser takes `Transfer-Encoding: gzip, chunked` for chunked framing and hands on the bytes as they
    // came, still gzip-coded: read as the body, they are not the body its sender (or a proxy that decodes them)
    // means. Only chunked, which Node removes, leaves the body as sent.
    const codings = c.req
      .header("transfer-encoding")
      ?.split(",")
      .map((coding) => coding.trim().toLowerCase())
      .filter((coding) => coding !== "" && coding !== "chunked");
    if (codings !== undefined && codings.length > 0) {
      throw new HttpProblem(
        415,
        "Unsupported Media Type",
        `Transfer-Encoding ${codings.join(", ")} is not accepted: send the body uncompressed, chunked or with a Content-Length.`,
        [{ field: "header.transfer-encoding", message: "names a coding other than chunked" }],
      );
    }
    const contentType = c.req.header("content-type");
    const bytes = await c.req.arrayBuffer();
    if (bytes.byteLength === 0) {
      // Said as that, whatever Content-Type says: without one, Hono's validator read no body as `{}`, and each
      // required field was refused as undefined.
      if (required)
        throw HttpProblem.invalid([
          { field: "body", message: "is required: send the JSON this operation takes" },
        ]);
      if (contentType !== undefined) withContentType(c, undefined);
      return next();
    }
    if (contentType !== undefined) {
      const mediaType = mediaTypeOf(contentType);
      if (mediaType?.essence !== "application/json") {
        throw unsupportedContentType();
      }
      const charset = mediaType.parameters.find(
        ([name, value]) => name === "charset" && !["utf-8", "utf8"].includes(value.toLowerCase()),
      );
      if (charset !== undefined) {
        throw new HttpProblem(
          415,
          "Unsupported Media Type",
          `charset=${charset[1].toLowerCase()} is not accepted: JSON is sent in UTF-8.`,
          [{ field: "header.content-type", message: "names a charset other than UTF-8" }],
        );
      }
    }
    // RFC 8259 §8.1: no sender adds one. Request.json() drops it silently, where another reader of the same bytes
    // (a gateway, a log) may refuse them or keep it as part of the first token.
    if (startsWithByteOrderMark(bytes)) {
      throw HttpProblem.invalid([{ field: "body", message: "starts with a byte order mark" }]);
    }
    if (!isUtf8(bytes)) {
      throw HttpProblem.invalid([{ field: "body", message: "is not valid UTF-8" }]);
    }
    const ambiguity = ambiguousMember(Buffer.from(bytes).toString("utf8"));
    if (ambiguity !== undefined) {
      throw HttpProblem.invalid([
        { field: ["body", ...ambiguity.path.map(shownSegment)].join("."), message: ambiguity.message },
      ]);
    }
    // The one spelling the validators after this take for JSON, whichever of the allowed ones was sent.
    if (contentType !== undefined && contentType !== "application/json")
      withContentType(c, "application/json");
    await next();
  };
}

const BYTE_ORDER_MARK = [0xef, 0xbb, 0xbf];

function startsWithByteOrderMark(bytes: ArrayBuffer): boolean {
  const start = new Uint8Array(bytes, 0, Math.min(bytes.byteLength, BYTE_ORDER_MARK.length));
  return BYTE_ORDER_MARK.every((byte, at) => start[at] === byte);
}

/** The request with its Content-Type replaced (or removed); its body, read already, stays in Hono's cache. */
function withContentType(c: Context, contentType: string | undefined): void {
  const headers = new Headers(c.req.raw.headers);
  if (contentType === undefined) headers.delete("content-type");
  else headers.set("content-type", contentType);
  c.req.raw = new Request(c.req.raw.url, { method: c.req.method, headers });
}

/**
 * A query as every reader of it reads it alike: each parameter named, given once, and percent-encoded UTF-8.
 * `?limit=1&limit=1000` is refused by name rather than read as one of its values (Hono's `query()` takes the
 * first, a proxy or a log may take the last) or as a list; `?eventType=%FF`, which Hono reads as the text
 * `%FF`, and `?=1`, which it drops, are refused rather than answered as if they meant something else.
 */
const wellFormedQuery: MiddlewareHandler = async (c, next) => {
  const search = new URL(c.req.url).search.slice(1);
  const problems: Array<{ field: string; message: string }> = [];
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const parameter of search.split("&")) {
    if (parameter === "") continue;
    const [rawName = "", ...rawValue] = parameter.split("=");
    const name = decodedQueryPart(rawName);
    const value = decodedQueryPart(rawValue.join("="));
    const field = `query.${name ?? rawName}`;
    if (name === undefined || value === undefined) {
      problems.push({ field, message: "is not percent-encoded UTF-8" });
    } else if (name === "") {
      problems.push({ field: "query", message: "names a parameter without a name" });
    } else if (seen.has(name)) {
      if (!repeated.has(name)) problems.push({ field, message: "is given more than once" });
      repeated.add(name);
    }
    if (name !== undefined) seen.add(name);
  }
  if (problems.length > 0) throw HttpProblem.invalid(problems);
  await next();
};

/** A query string's name or value as a form decodes it (`+` is a space); undefined when it cannot be. */
function decodedQueryPart(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    return undefined;
  }
}

/**
 * A route that declares no body refuses one, as a route with a body refuses fields it does not know; a body over
 * MAX_BODY_BYTES is a 413 there as on every route (the body limit answers it before, where the request has a
 * body to read).
 */
const noBody: MiddlewareHandler = async (c, next) => {
  const sent =
    c.req.method === "GET" || c.req.method === "HEAD"
      ? await bodyBesideFetch(c)
      : (await c.req.text()).length;
  if (sent > MAX_BODY_BYTES) throw bodyTooLarge();
  if (sent > 0) {
    throw HttpProblem.invalid([{ field: "body", message: "must be empty: this route takes no body" }]);
  }
  await next();
};

/**
 * The size of a GET's or HEAD's body, which never reaches the request (Fetch gives them none): its
 * Content-Length (Node's parser has refused a malformed or repeated one), or, chunked, the bytes of Node's own
 * request stream, read up to one past the limit. A chunked body where there is no such stream (a request made
 * in-process) counts as one byte: sent, of unknown size.
 */
async function bodyBesideFetch(c: Context): Promise<number> {
  if (c.req.header("transfer-encoding") === undefined) return Number(c.req.header("content-length") ?? 0);
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming ? bytesUpTo(incoming, MAX_BODY_BYTES + 1) : 1;
}

/**
 * How many bytes `stream` gives, counted up to `limit`: past it, the stream is left paused, unread. A stream that
 * closes before its end (the client gone) gives what it gave.
 */
function bytesUpTo(stream: Readable, limit: number): Promise<number> {
  if (stream.readableEnded) return Promise.resolve(0);
  return new Promise((resolve, reject) => {
    let size = 0;
    const settle = (outcome: () => void) => {
      stream.off("data", counted).off("end", ended).off("close", ended).off("error", failed);
      stream.pause();
      outcome();
    };
    const counted = (chunk: Buffer) => {
      size += chunk.length;
      if (size >= limit) settle(() => resolve(size));
    };
    const ended = () => settle(() => resolve(size));
    const failed = (error: Error) => settle(() => reject(error));
    stream.on("data", counted).on("end", ended).on("close", ended).on("error", failed);
  });
}

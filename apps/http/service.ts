// The frame every HTTP service shares: middleware in order (span, context, logging, metrics, body limit),
// problem+json errors, the public routes (health, metrics, the OpenAPI document and its /docs page), then
// authentication for everything after them. Services add their routes to it.
import { type IncomingMessage, maxHeaderSize, STATUS_CODES } from "node:http";
import { swaggerUI } from "@hono/swagger-ui";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Registry } from "prom-client";
import { NO_TRACESTATE_KEYS } from "../../config/tracestateKeys.ts";
import type { Database } from "../../db/client.ts";
import { RestoredHistoryAhead } from "../../db/outbox/insertOutboxRows.ts";
import { isMasterKeyFault, PatientErased } from "../../db/patientKeys.ts";
import { databaseUnavailable } from "../../db/unavailable.ts";
import { withStrictEnds } from "../../events/docs/strictEnds.ts";
import { EventTooLarge, MAX_EVENT_BYTES } from "../../events/record.ts";
import { healthRoutes, type OperatorCheck, type ReadinessCheck } from "../../observability/health.ts";
import type { Logger } from "../../observability/logger.ts";
import { httpMetrics, type MetricsSource, metricsRoute } from "../../observability/metrics.ts";
import type { MasterKeys } from "../../phi/masterKeys.ts";
import { REQUEST_TIMEOUT_MS } from "../../process/httpServer.ts";
import { publicAnswersAcceptable } from "./acceptable.ts";
import { recordRefusals } from "./access.ts";
import { type AuthEnv, authenticate, bearerToken, type Role, type TokenVerifier } from "./auth.ts";
import { DOCS_ASSET_ROUTE, DOCS_ASSETS_BASE, docsAsset, docsPageHeaders } from "./docsAssets.ts";
import { type SealingEnv, sealingKeys } from "./eventContext.ts";
import { headContentLength } from "./headLength.ts";
import { once } from "./once.ts";
import { privateAnswers } from "./privateAnswers.ts";
import { fieldProblems, HttpProblem, problemResponse, shownPath, unsupportedContentType } from "./problem.ts";
import { type RequestContextEnv, requestContext } from "./requestContext.ts";
import { requestLog } from "./requestLog.ts";
import { requestSpan } from "./requestSpan.ts";

export type ServiceEnv = RequestContextEnv & AuthEnv & SealingEnv;
export type ServiceApp = OpenAPIHono<ServiceEnv>;

export const MAX_BODY_BYTES = 64 * 1024;

/** SQLSTATE class 22, data exception: a value out of range, untranslatable, malformed (22003, 22P05, 22021). */
const DATA_EXCEPTION = /^22[0-9A-Z]{3}$/;

/** The SQLSTATE of a Postgres error, also when drizzle wraps it (its `cause`). */
function sqlState(error: unknown): string | undefined {
  const { code, cause } = error as { code?: unknown; cause?: { code?: unknown } };
  const state = typeof code === "string" ? code : cause?.code;
  return typeof state === "string" ? state : undefined;
}

const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * Whether `error` is the request's own connection failing under its body: on @hono/node-server, reading a body
 * the client stopped sending (a reset, or a FIN before its Content-Length or last chunk) rejects with the
 * IncomingMessage's error ("aborted", ECONNRESET). That code is also Postgres's connection reset
 * (databaseUnavailable), so it is told apart by identity: only the request's own error is the client's.
 */
function bodyCutOff(c: Context, error: unknown): boolean {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const cutOff = incoming?.errored;
  if (cutOff === undefined || cutOff === null) return false;
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (current === cutOff) return true;
  }
  return false;
}

/** The answer to a body over MAX_BODY_BYTES, on any route. */
export function bodyTooLarge(): HttpProblem {
  return new HttpProblem(413, "Content Too Large", `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`, [
    { field: "body", message: `is over ${MAX_BODY_BYTES} bytes` },
  ]);
}

/** The OpenAPI security scheme that every service route names. */
export const BEARER_AUTH = "bearerAuth";

/** A router whose zod validation failures become 400 problems naming each field. */
export function createRouter(): ServiceApp {
  return new OpenAPIHono<ServiceEnv>({
    defaultHook: (result) => {
      if (!result.success) throw HttpProblem.invalid(fieldProblems(result.target, result.error));
    },
  });
}

export interface ServiceFrameOptions {
  title: string;
  log: Logger;
  registry: Registry;
  readiness: ReadinessCheck[];
  verifyToken: TokenVerifier;
  /** Where refusals are recorded as compliance violations. */
  db: Database;
  /** This process's master keys, which every event the service writes is sealed with. */
  masterKeys: MasterKeys;
  /** Documentation anyone may read, served before authentication (the event catalog's schemas). */
  publicRoutes?: Hono;
  /** What /metrics answers, when not the registry alone (an API process among several: all of theirs). */
  metrics?: MetricsSource;
  /** The keys of the members of a caller's tracestate that are kept (TRACESTATE_KEYS); none by default. */
  tracestateKeys?: ReadonlySet<string>;
}

export function createServiceFrame(options: ServiceFrameOptions): ServiceApp {
  const app = createRouter();
  // First, so that everything after it (authentication, refusals, the handler's transaction) is in the span.
  app.use(requestSpan(options.tracestateKeys ?? NO_TRACESTATE_KEYS));
  // Outside every other: a HEAD's answer, whatever made it, a refusal too, is measured as it is sent.
  app.use(headContentLength);
  app.use(requestContext());
  app.use(sealingKeys(options.masterKeys));
  app.use(requestLog(options.log));
  app.use(httpMetrics(options.registry));
  app.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw bodyTooLarge();
      },
    }),
  );
  // Around the public routes, which answer in the media type they make (HTML, scripts, text, JSON).
  app.use(publicAnswersAcceptable());
  app.route("/", healthRoutes(options.readiness, operatorCheck(options.verifyToken)));
  app.route("/", metricsRoute(options.registry, options.metrics));
  app.openAPIRegistry.registerComponent("securitySchemes", BEARER_AUTH, {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description:
      "A JWT whose `role` (or `app_metadata.role`) is patient, provider, admin, auditor or service.",
  });
  // Its patterns end strictly in every regex dialect (events/docs/strictEnds.ts). Built at the first request, then
  // kept as text: every route is declared before the server listens, and building the document (over half a
  // megabyte) took 70-90 ms of CPU, which a burst of requests to this public route would have multiplied.
  const openApiDocument = once(() =>
    JSON.stringify(
      withStrictEnds(
        app.getOpenAPI31Document({
          openapi: "3.1.0",
          info: { title: options.title, version: "1.0.0", description: CONVENTIONS },
        }),
      ),
    ),
  );
  app.get("/openapi.json", (c) => c.body(openApiDocument(), 200, { "Content-Type": "application/json" }));
  app.get(
    "/docs",
    docsPageHeaders,
    swaggerUI({ url: "/openapi.json", title: options.title, baseUrl: DOCS_ASSETS_BASE }),
  );
  app.get(DOCS_ASSET_ROUTE, docsAsset);
  if (options.publicRoutes) app.route("/", options.publicRoutes);
  const publicPaths = app.routes
    .filter((route) => route.method !== "ALL")
    .map((route) => routePattern(route.path));

  // Hono runs handlers in the order they were added: the routes above answer before this is reached, and
  // every route added after it (all of the services') requires a valid token. A public path reached here was
  // called with a method it does not take: a 405 whether or not a token was sent, as it needs none.
  app.use(async function publicMethodNotAllowed(c, next) {
    if (!publicPaths.some((path) => path.test(c.req.path))) return next();
    return methodNotAllowed(c, app, allowedMethods(app, c.req.path));
  });
  app.use(privateAnswers());
  app.use(authenticate(options.verifyToken));
  app.use(recordRefusals(options.db, options.log));

  // A known path called with another method is a 405 naming the methods it takes (RFC 9110 §15.5.6);
  // only a path that no route serves is a 404.
  app.notFound((c) => {
    const allowed = allowedMethods(app, c.req.path);
    // A route that takes the method and found nothing (an unknown asset) is a 404 too.
    if (allowed.length === 0 || allowed.includes(c.req.method)) {
      // Not the path: no route reads it, and all of it is the client's (problem.ts, shownPath).
      return problemResponse(c, HttpProblem.notFound(`No route serves ${c.req.method} on this path.`), null);
    }
    return methodNotAllowed(c, app, allowed);
  });
  // A refusal shows the request's path as the route that serves it reads it, whichever method that route takes:
  // a 401 for a PUT on /documents shows /documents (problem.ts, shownPath).
  const refuse = (c: Context, problem: HttpProblem) =>
    problemResponse(c, problem, servingRoutes(app, c.req.path)[0]?.path ?? null);
  app.onError((error, c) => {
    if (error instanceof HttpProblem) return refuse(c, error);
    // An event with personal data about an erased patient (a notification for them, say) cannot be written.
    if (error instanceof PatientErased) {
      return refuse(c, new HttpProblem(410, "Gone", `Patient ${error.patientId} was erased.`));
    }
    // Kafka could never take the event this request would write: nothing was written (the transaction rolled back).
    if (error instanceof EventTooLarge) {
      return refuse(
        c,
        new HttpProblem(
          413,
          "Content Too Large",
          `The ${error.eventType} event this request would write takes ${error.bytes} bytes; events are limited to ${MAX_EVENT_BYTES} bytes.`,
          [{ field: "body", message: `makes an event over ${MAX_EVENT_BYTES} bytes` }],
        ),
      );
    }
    // Hono's own refusals (a body that is not JSON, a wrong content type) keep their status, and say what to send.
    if (error instanceof HTTPException) {
      const status = error.status as ContentfulStatusCode;
      if (status === 415) return refuse(c, unsupportedContentType());
      // Its 400 is its JSON validator's, for a body that does not parse: named as every bad field is.
      const errors = status === 400 ? [{ field: "body", message: "is not JSON" }] : undefined;
      return refuse(
        c,
        new HttpProblem(status, STATUS_CODES[status] ?? "Bad Request", error.message || undefined, errors),
      );
    }
    // The client closed the connection before its body was whole: its request, not the platform, failed.
    if (bodyCutOff(c, error)) {
      return refuse(
        c,
        HttpProblem.invalid([
          { field: "body", message: "ended before it was whole: the connection was closed" },
        ]),
      );
    }
    // Driver messages can quote the values that failed (PHI): log the error's kind and where it came from.
    const { name, stack } = error as Error;
    const code = sqlState(error);
    // The last line of defence for "no input is a server error": the schemas name the field first.
    if (code !== undefined && DATA_EXCEPTION.test(code)) {
      options.log.warn({ err: { type: name, code } }, "a value the database cannot store reached a query");
      return refuse(
        c,
        new HttpProblem(400, "Bad Request", "The request holds a value the database cannot store."),
      );
    }
    // A restored database takes no writes until an operator re-anchors it: nothing was written.
    if (error instanceof RestoredHistoryAhead) {
      options.log.error({ err: { type: error.name } }, error.message);
      c.header("Retry-After", String(DATABASE_RETRY_AFTER_SECONDS));
      return refuse(
        c,
        new HttpProblem(
          503,
          "Service Unavailable",
          "The database was restored and takes no writes until it is re-anchored; retry later.",
        ),
      );
    }
    // This process's PHI_MASTER_KEYS cannot unwrap a patient's key: nothing was written (no new key either,
    // the patient has one), and nothing about them can be until an operator fixes the configuration.
    if (isMasterKeyFault(error)) {
      options.log.error(
        { err: { type: error.name, masterKeyId: error.masterKeyId } },
        "PHI_MASTER_KEYS cannot unwrap a patient's data key",
      );
      c.header("Retry-After", String(DATABASE_RETRY_AFTER_SECONDS));
      return refuse(
        c,
        new HttpProblem(
          503,
          "Service Unavailable",
          "This service's master keys cannot open the patient's data key; retry later.",
        ),
      );
    }
    if (databaseUnavailable(error)) {
      options.log.error({ err: { type: name, code } }, "the database is unavailable");
      c.header("Retry-After", String(DATABASE_RETRY_AFTER_SECONDS));
      return refuse(
        c,
        new HttpProblem(
          503,
          "Service Unavailable",
          "The database cannot be reached now, or ended the request's work (a timeout, an operator, a lack of resources); retry later.",
        ),
      );
    }
    options.log.error(
      { err: { type: name, code, at: stack?.split("\n").slice(1, 6).join("\n") } },
      "unhandled error",
    );
    return refuse(c, new HttpProblem(500, "Internal Server Error"));
  });
  return app;
}

/** What holds for every operation, said once in the document rather than on each. */
const CONVENTIONS = [
  "Every operation below answers as it declares; these hold for all of them:",
  "",
  "- **HEAD** is answered wherever GET is (RFC 9110): the GET's status and headers, `Content-Length` included (but on an export, streamed: its GET has none either), and no body. It is the same read, authorized and recorded in the audit history as the GET is.",
  "- A known path called with a method it does not take is a **405** whose `Allow` header lists the methods it takes, once the bearer token is taken (a public path, `/health/live` or `/docs` say, answers so whatever token is sent); a path no route serves is a 404.",
  "- A request whose `Accept` admits none of the media types an operation answers in (RFC 9110: ranges, parameters, `q=0` excluding; a member that is no media range, or whose weight is not 0 to 1, `q=2` say, admits nothing) is a **406** that does nothing; no `Accept`, or an empty one, admits anything.",
  "- Every answer carries `X-Correlation-Id` (the request's, or a new UUID) and, behind authentication, `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`, as every refusal does.",
  `- Every request's body is limited to ${MAX_BODY_BYTES} bytes: a longer one is a **413** on any operation, one that takes no body included.`,
  `- Before any operation is reached, the server refuses what is not a readable HTTP/1.1 request: a request line over ${maxHeaderSize} bytes on its own (a URL too long) is a **414**, and a request line and headers over ${maxHeaderSize} bytes together (a long URL counts) a **431**; a request not whole within ${REQUEST_TIMEOUT_MS / 1000} s of its first byte, a **408** that closes its connection; an \`Expect\` other than \`100-continue\` a **417**; a malformed request line, header or chunked body, a target with a \`.\` or \`..\` segment, and CONNECT, a **400**. These come as problem documents too, with no \`instance\`.`,
  "- Every refusal is an RFC 9457 problem document (`application/problem+json`), naming each bad field in `errors`.",
  "- Every JSON answer of a read and a PATCH carries an **ETag**: a strong validator, a hash of the answer's bytes, which changes whenever its content does. A patient's consents (the one PUT, which answers with the consents alone: they have no GET of their own) and an erasure's report carry none: the next conditional write on the patient reads it first. A write to a record (a PUT, PATCH or DELETE, a patient's consents, an erasure, an appointment's cancellation or completion, a document's processing result: each operation's `If-Match` names the GET whose ETag it compares) sent with `If-Match` is done only if the record's current ETag is among the tags (strong comparison); else it is a **412** that does nothing: the lost update is refused. `If-None-Match: *`, or naming the current tag, is a **412** there too. The conditions are evaluated once the record is found and the caller may write it: a 400, 403, 404 or 410 comes first. An action's answer that is the record after it, and a creation's 201 (patients, providers, appointments, documents), carry the record's ETag and name it in `Content-Location`: a first conditional write needs no read. A POST to a collection has no representation, so no ETag: any `If-Match`, `*` too, is a **412** that does nothing (after the 400s of its path, query and headers), and `If-None-Match` is met. A read with `If-Match` naming none of its answer's tag is a **412**; with `If-None-Match` naming it (weak comparison), or `*`, a **304** without a body. A condition that is not `*` or a list of entity tags is a **400**.",
].join("\n");

/** A 405 naming the methods `allowed`, which the routes serving the request's path take. */
function methodNotAllowed(c: Context, app: ServiceApp, allowed: string[]): Response {
  c.header("Allow", allowed.join(", "));
  // The path as the route serving it reads it: an id shown as one, nothing else the client wrote (problem.ts).
  const route = servingRoutes(app, c.req.path)[0]?.path ?? null;
  const shown = route === null ? undefined : shownPath(c.req.path, route);
  return problemResponse(
    c,
    new HttpProblem(405, "Method Not Allowed", `${shown ?? "This path"} takes ${allowed.join(", ")}.`),
    route,
  );
}

/** The app's routes (not its middleware) whose path `path` is. */
function servingRoutes(app: ServiceApp, path: string) {
  return app.routes.filter((route) => route.method !== "ALL" && routePattern(route.path).test(path));
}

/** The methods the app's routes answer on `path` (HEAD wherever GET is, as Hono serves it). */
function allowedMethods(app: ServiceApp, path: string): string[] {
  const methods = new Set(servingRoutes(app, path).map((route) => route.method));
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods].sort();
}

/**
 * A Hono route path (`/patients/:id`, `/docs/assets/*`, `/console/jose/:path{.+}`) as a regular expression over
 * request paths: a parameter with a pattern of its own matches what Hono's does, past a `/` too.
 */
/** Each route path's pattern, made once: every refusal reads them (servingRoutes), a flood of 401s too. */
const routePatterns = new Map<string, RegExp>();

function routePattern(routePath: string): RegExp {
  let pattern = routePatterns.get(routePath);
  if (pattern === undefined) {
    pattern = patternOf(routePath);
    routePatterns.set(routePath, pattern);
  }
  return pattern;
}

function patternOf(routePath: string): RegExp {
  const source = routePath
    .split("/")
    .map((segment) => {
      if (segment === "*") return ".*";
      const parameter = /^:\w+(?:\{(.+)\})?$/.exec(segment);
      if (parameter) return parameter[1] === undefined ? "[^/]+" : `(?:${parameter[1]})`;
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return new RegExp(`^${source}$`);
}

/** The roles that run the platform, and so may read its dependencies' errors on /health/ready. */
const OPERATOR_ROLES: ReadonlySet<Role> = new Set(["admin", "service"]);

function operatorCheck(verifyToken: TokenVerifier): OperatorCheck {
  return async (authorization) => {
    const token = bearerToken(authorization);
    if (token === undefined) return false;
    try {
      return OPERATOR_ROLES.has((await verifyToken(token)).role);
    } catch {
      return false;
    }
  };
}

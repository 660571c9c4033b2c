// Errors as RFC 9457 problem details (`application/problem+json`), with one entry per invalid field.
import type { Context } from "hono";
import { matchedRoutes } from "hono/route";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { anyCaseUuid } from "./ids.ts";

export interface FieldProblem {
  /** Where the bad value is: `body.email`, `query.limit`, `header.x-correlation-id`. */
  field: string;
  message: string;
}

export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldProblem[];
}

/**
 * How many bad fields one answer lists: a body of thousands of unknown keys (64 KiB allows over ten thousand)
 * would otherwise be answered by a larger document that echoes every one of them.
 */
export const MAX_LISTED_PROBLEMS = 20;

/** Thrown anywhere in a request to answer with a problem document. */
export class HttpProblem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldProblem[],
  ) {
    super(detail ?? title);
    this.name = "HttpProblem";
  }

  static notFound(detail: string): HttpProblem {
    return new HttpProblem(404, "Not Found", detail);
  }

  /** A 400 naming each bad field; past MAX_LISTED_PROBLEMS, the first of them and how many there were. */
  static invalid(errors: FieldProblem[]): HttpProblem {
    if (errors.length <= MAX_LISTED_PROBLEMS) {
      return new HttpProblem(
        400,
        "Bad Request",
        "The request is invalid; see errors for each field.",
        errors,
      );
    }
    return new HttpProblem(
      400,
      "Bad Request",
      `The request is invalid in ${errors.length} places; errors lists the first ${MAX_LISTED_PROBLEMS}.`,
      errors.slice(0, MAX_LISTED_PROBLEMS),
    );
  }
}

/** Request parts as validators name them, and as a client reads them in `field`. */
const LOCATIONS: Record<string, string> = { json: "body", param: "path", query: "query", header: "header" };

export function fieldProblems(target: string, error: z.ZodError): FieldProblem[] {
  const location = LOCATIONS[target] ?? target;
  return error.issues.flatMap((issue) => {
    // A name the schema accepted (a field's, a valid map key) is shown; one it refused (a map key that fails its
    // rule) or does not know (an unknown field), as shownName shows it.
    const path = issue.path.map(String);
    const at = [location, ...(issue.code === "invalid_key" ? refusedLast(path) : path)];
    // One entry per unknown field, so that each is named where it is.
    if (issue.code === "unrecognized_keys") {
      const message = location === "query" ? "is not a known parameter" : "is not a known field";
      return issue.keys.map((key) => ({ field: [...at, shownName(key)].join("."), message }));
    }
    return [{ field: at.join("."), message: issue.message }];
  });
}

/**
 * A name the client chose that the schema does not know or refused (an unknown field, a repeated member, a map
 * key that breaks its rule), as a refusal may show it: as sent when it reads as a field name (letters, digits,
 * `_`, `$` and `-`, up to 64 of them, as `fristName` or `x-trace`), else `[name]`. A member named with an e-mail
 * address, a phone number or a megabyte of text is not sent back, to be logged by the client or a gateway with
 * the refusal, nor does it make the refusal as large as the request.
 */
export function shownName(name: string): string {
  return CHOSEN_NAME.test(name) ? name : "[name]";
}

const CHOSEN_NAME = /^[A-Za-z_$][\w$-]{0,63}$/;

/** A segment of the path to a bad field: an array's index as it is, a member's name as shownName shows it. */
export function shownSegment(segment: PropertyKey): string {
  return typeof segment === "number" ? String(segment) : shownName(String(segment));
}

/** The path with its last segment, a name the schema refused, as shownName shows it. */
function refusedLast(path: readonly string[]): string[] {
  return path.map((segment, at) => (at === path.length - 1 ? shownName(segment) : segment));
}

/**
 * A refusal's answer. `route` is the path of the route that serves the request (`/patients/:id`): unless given,
 * the first Hono matched that is no middleware (the one that runs: `/audit/events/export` matches
 * `/audit/events/:eventId` too, declared after it), null when none does.
 */
export function problemResponse(
  c: Context,
  problem: HttpProblem,
  route: string | null = matchedRoutes(c).find((matched) => matched.method !== "ALL")?.path ?? null,
): Response {
  const instance = route === null ? undefined : shownPath(c.req.path, route);
  const body: ProblemDetails = {
    type: "about:blank",
    title: problem.title,
    status: problem.status,
    ...(problem.detail ? { detail: problem.detail } : {}),
    ...(instance === undefined ? {} : { instance }),
    ...(problem.errors ? { errors: problem.errors } : {}),
  };
  // A refusal made before the answers behind authentication get these (privateAnswers.ts), a malformed
  // X-Correlation-Id or a body over the limit say, carries them too: no refusal is worth keeping.
  return c.body(JSON.stringify(body), problem.status, {
    "Content-Type": "application/problem+json",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
}

/**
 * The request's path as a refusal may show it (its `instance`, a 405's detail), read by the route that serves
 * it. Where an id belongs a client may have written anything: an e-mail address, a phone number or a name sent
 * in place of the patient's id, which the refusal would have sent back, and clients and gateways log refusals
 * (the request log names the route, never the path: requestLog.ts). So an id parameter (`id`, `eventId`) is shown
 * as the UUID it is, in lower case, and anything else in its place as the parameter (`/patients/{id}`). A path no
 * route serves, every segment of it the client's, is not shown at all (problemResponse), nor one that does not
 * follow its route segment by segment (undefined). The public files' parameters (`file`, `path`) are shown as sent.
 */
export function shownPath(path: string, route: string): string | undefined {
  const parts = route.split("/");
  if (!parts.some((part) => ID_PARAMETER.test(part))) return path;
  const segments = path.split("/");
  if (segments.length !== parts.length) return undefined;
  return parts
    .map((part, at) => {
      const name = ID_PARAMETER.exec(part)?.[1];
      if (name === undefined) return part;
      return anyCaseUuid.safeParse(segments[at]).data ?? `{${name}}`;
    })
    .join("/");
}

/**
 * A route's path as the OpenAPI document spells it (`/audit/events/{eventId}`), for a refusal that names the route:
 * the routes are declared so, and Hono's own spelling (`/audit/events/:eventId`, `:path{.+}`) is its business.
 */
export function documentedPath(route: string): string {
  return route.replace(/:(\w+)(?:\{[^/]*\})?/g, "{$1}");
}

/** A route parameter that names a record by its id: `:id`, `:eventId`. */
const ID_PARAMETER = /^:(id|[a-z]\w*Id)$/;

/** A body sent in a media type other than JSON (or with none where one is needed). */
export function unsupportedContentType(): HttpProblem {
  return new HttpProblem(
    415,
    "Unsupported Media Type",
    "Send the body as JSON, with Content-Type: application/json.",
    [{ field: "header.content-type", message: "must be application/json" }],
  );
}

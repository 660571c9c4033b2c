// Refusals made before a route reads anything: a body over the limit, a malformed X-Correlation-Id, a body that is
// not JSON, a token the issuer's keys cannot check. Each was answered as the published document does not say:
// a 413 on operations that declared none (the limit holds for every request, a body or not), without
// Cache-Control and X-Content-Type-Options (thrown before the answers behind authentication get them), a 413 or
// 415 naming no field, a 503 without the Retry-After its operation declares. Each now answers as declared, and
// changes nothing.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld } from "../test/careWorld.ts";
import { testDatabase } from "../test/fixtures.ts";
import { eventsOf, loginOf, stateDigest } from "../test/platformState.ts";
import { roles, serviceRoutes } from "../test/serviceRoutes.ts";
import { caller, testPlatform } from "../test/tokens.ts";
import { TokenCheckUnavailable } from "./http/auth.ts";
import { MAX_BODY_BYTES } from "./http/service.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

interface Operation {
  requestBody?: unknown;
  responses: Record<string, { headers?: Record<string, unknown> }>;
}
const document = (await (await app.request("/openapi.json")).json()) as {
  paths: Record<string, Record<string, Operation>>;
};

/** What the document declares `route` answers `status` with; throws if it declares no such answer. */
function declared(method: string, route: string, status: number) {
  const answer = document.paths[route]?.[method.toLowerCase()]?.responses[String(status)];
  if (!answer) throw new Error(`${method} ${route} declares no ${status}`);
  return answer;
}

/** Headers every refusal carries, behind authentication or before it, as every answer's do. */
function expectPrivate(response: Response) {
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  expect(response.headers.get("content-type")).toBe("application/problem+json");
}

/** Sends `init` to a route's own record as a role it lets in; the answer, its problem, and what changed. */
async function send(
  routeCase: (typeof serviceRoutes)[number],
  init: Omit<RequestInit, "headers"> & { headers?: Record<string, string> },
) {
  const world = await careWorld(db);
  const role = roles.find((candidate) => routeCase.expected[candidate].own !== 403) ?? "admin";
  const user = await caller(role, loginOf(role, world, routeCase));
  const { path } = routeCase.request(world, "own");
  const correlationId = randomUUID();
  const before = await stateDigest(db);
  const response = await app.request(path, {
    method: routeCase.method,
    ...init,
    headers: user.headers({ "X-Correlation-Id": correlationId, ...init.headers }),
  });
  const problem = (await response.json()) as { errors?: Array<{ field: string }> };
  return {
    response,
    fields: problem.errors?.map((error) => error.field),
    changed: (await stateDigest(db)) !== before,
    events: await eventsOf(db, correlationId),
  };
}

describe("a body over the limit", () => {
  const oversized = JSON.stringify({ note: "x".repeat(MAX_BODY_BYTES) });
  // The routes that take no body (request-validation.int.test.ts sends the others theirs), and one that does.
  const takesNoBody = (routeCase: (typeof serviceRoutes)[number]) =>
    document.paths[routeCase.route]?.[routeCase.method.toLowerCase()]?.requestBody === undefined;
  const routes = serviceRoutes.filter(
    (routeCase) => takesNoBody(routeCase) || (routeCase.method === "POST" && routeCase.route === "/patients"),
  );

  it("is sent to every route that takes no body", () => {
    expect(routes.length).toBeGreaterThan(8);
  });

  for (const routeCase of routes) {
    it(`${routeCase.method} ${routeCase.route}: a 413 the operation declares, naming the body, changing nothing`, async () => {
      // Fetch gives a GET no body: its Content-Length tells the size (apps/http/get-body.int.test.ts sends one,
      // and a chunked one, over a socket).
      const sent = await send(
        routeCase,
        routeCase.method === "GET"
          ? { headers: { "Content-Length": String(Buffer.byteLength(oversized)) } }
          : { body: oversized, headers: { "Content-Type": "application/json" } },
      );
      expect(sent.response.status).toBe(413);
      declared(routeCase.method, routeCase.route, 413);
      expectPrivate(sent.response);
      expect(sent.fields).toEqual(["body"]);
      expect(sent.changed).toBe(false);
      expect(sent.events).toEqual([]);
    });
  }
});

describe("a malformed X-Correlation-Id", () => {
  it("is a 400 naming it, with the headers of every answer", async () => {
    const user = await caller("admin");
    const response = await app.request(`/patients/${randomUUID()}`, {
      headers: user.headers({ "X-Correlation-Id": "nope" }),
    });
    expect(response.status).toBe(400);
    expectPrivate(response);
    expect(((await response.json()) as { errors: Array<{ field: string }> }).errors).toEqual([
      { field: "header.x-correlation-id", message: "must be a UUID" },
    ]);
  });
});

describe("a body in another media type", () => {
  const registration = serviceRoutes.find(
    (routeCase) => routeCase.method === "POST" && routeCase.route === "/patients",
  );
  if (!registration) throw new Error("no POST /patients");
  const cases: Array<[string, Record<string, string>, string]> = [
    ["text/plain", { "Content-Type": "text/plain" }, "header.content-type"],
    ["charset=latin1", { "Content-Type": "application/json; charset=latin1" }, "header.content-type"],
    ["merge-patch", { "Content-Type": "application/merge-patch+json" }, "header.content-type"],
    ["gzip", { "Content-Type": "application/json", "Content-Encoding": "gzip" }, "header.content-encoding"],
  ];
  for (const [name, headers, field] of cases) {
    it(`${name}: a 415 naming ${field}, changing nothing`, async () => {
      const sent = await send(registration, { body: JSON.stringify({}), headers });
      expect(sent.response.status).toBe(415);
      expectPrivate(sent.response);
      expect(sent.fields).toEqual([field]);
      expect(sent.changed).toBe(false);
    });
  }
});

describe("a token the issuer's keys cannot check now", () => {
  const unreachable = testPlatform(db, {
    verifyToken: async () => {
      throw new TokenCheckUnavailable("the signing keys could not be obtained");
    },
  });

  it("is a 503 with the Retry-After every operation declares for it", async () => {
    const user = await caller("admin");
    for (const [method, path, route] of [
      ["GET", `/patients/${randomUUID()}`, "/patients/{id}"],
      ["POST", "/patients", "/patients"],
    ] as const) {
      const response = await unreachable.request(path, {
        method,
        headers: user.headers({ "Content-Type": "application/json" }),
        ...(method === "POST" ? { body: "{}" } : {}),
      });
      expect(response.status, `${method} ${path}`).toBe(503);
      expect(declared(method, route, 503).headers).toHaveProperty("Retry-After");
      expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
      expectPrivate(response);
    }
  });
});

describe("a refused token", () => {
  it("carries the WWW-Authenticate challenge its operation declares", async () => {
    const response = await app.request(`/patients/${randomUUID()}`, {
      headers: { Authorization: "Bearer a.b.c" },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm="healthcare-platform"/);
    expect(declared("GET", "/patients/{id}", 401).headers).toHaveProperty("WWW-Authenticate");
  });
});

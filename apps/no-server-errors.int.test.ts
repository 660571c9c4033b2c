// No input is a server error: whatever a client sends gets a 2xx or a 4xx problem, and a 4xx leaves the
// platform's state and history as they were (but for the record of the attempt itself: an auditor's read of
// an unknown event, a refusal). First the inputs once reported as 500s; then, for every route of the OpenAPI
// document, seeded property runs that change one part of a valid request to an edge value (test/edgeRequests.ts).
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CareWorld, careWorld } from "../test/careWorld.ts";
import { edgeRequests, type JsonSchema, type OperationShape } from "../test/edgeRequests.ts";
import { newPatientBody, testDatabase } from "../test/fixtures.ts";
import { loginOf, stateDigest } from "../test/platformState.ts";
import { type RouteCase, serviceRoutes } from "../test/serviceRoutes.ts";
import { caller, testPlatform } from "../test/tokens.ts";
import { encodeCursor } from "./audit/schemas.ts";
import type { Role } from "./http/auth.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

/** Events a refused request may still leave: the audit trail of the attempt, never a change. */
const RECORDS_OF_THE_ATTEMPT = new Set(["audit.data.accessed", "audit.compliance.violation"]);

/** Fixed, so that every run of the file sends the same requests; FC_SEED and FC_RUNS explore further. */
const SEED = Number(process.env.FC_SEED ?? 20261201);
const RUNS_PER_ROUTE = Number(process.env.FC_RUNS ?? 12);

async function lastPosition(): Promise<string> {
  const { rows } = await db.$client.query<{ last: string }>(
    "SELECT coalesce(max(position), 0)::text AS last FROM outbox",
  );
  return rows[0]?.last ?? "0";
}

async function eventTypesAfter(position: string): Promise<string[]> {
  const { rows } = await db.$client.query<{ type: string }>(
    "SELECT event_type AS type FROM outbox WHERE position > $1 ORDER BY position",
    [position],
  );
  return rows.map((row) => row.type);
}

interface Sent {
  status: number;
  contentType: string | null;
  problem: { errors?: Array<{ field: string }> } | undefined;
  changedState: boolean;
  wrote: string[];
}

/** Sends a request as `role` and reports what it answered and what it left behind. */
async function send(
  role: Role,
  world: CareWorld,
  request: { method: string; path: string; body?: string; headers?: Record<string, string> },
  routeCase?: { registers?: boolean },
): Promise<Sent> {
  const user = await caller(role, loginOf(role, world, routeCase));
  const before = await stateDigest(db);
  const from = await lastPosition();
  const response = await app.request(request.path, {
    method: request.method,
    headers: user.headers({
      "Content-Type": "application/json",
      "X-Correlation-Id": randomUUID(),
      ...request.headers,
    }),
    body: request.body,
  });
  const contentType = response.headers.get("content-type");
  const text = await response.text();
  return {
    status: response.status,
    contentType,
    problem: contentType === "application/problem+json" ? JSON.parse(text) : undefined,
    changedState: (await stateDigest(db)) !== before,
    wrote: await eventTypesAfter(from),
  };
}

function expectRefusedCleanly(sent: Sent, what: string) {
  expect(sent.status, what).toBeGreaterThanOrEqual(400);
  expect(sent.status, what).toBeLessThan(500);
  expect(sent.contentType, what).toBe("application/problem+json");
  expect(sent.changedState, `${what}: changed the state`).toBe(false);
  expect(
    sent.wrote.filter((type) => !RECORDS_OF_THE_ATTEMPT.has(type)),
    `${what}: wrote events`,
  ).toEqual([]);
}

function expectBadRequestNaming(sent: Sent, field: string, what: string) {
  expectRefusedCleanly(sent, what);
  expect(sent.status, what).toBe(400);
  expect(
    sent.problem?.errors?.map((error) => error.field),
    what,
  ).toContain(field);
}

describe("the inputs once answered with a 500", () => {
  let world: CareWorld;
  beforeAll(async () => {
    world = await careWorld(db);
  });

  it("a tampered auditor cursor is a 400 naming query.cursor", async () => {
    for (const key of ["0:9999999999999999999", "18446744073709551616:1", "99999999999999999999:1", "01:1"]) {
      const [txId, position] = key.split(":") as [string, string];
      // Of the query sent (no filter): only its numbers are out of range.
      const cursor = encodeCursor({ txId, position }, {});
      const sent = await send("auditor", world, { method: "GET", path: `/audit/events?cursor=${cursor}` });
      expectBadRequestNaming(sent, "query.cursor", key);
    }
  });

  it("U+0000 or an unpaired surrogate in a text field is a 400 naming the field", async () => {
    for (const bad of ["Ada\u0000", "\ud800Ada"]) {
      const patient = await send("admin", world, {
        method: "POST",
        path: "/patients",
        body: JSON.stringify(newPatientBody({ firstName: bad })),
      });
      expectBadRequestNaming(patient, "body.firstName", `POST /patients firstName ${JSON.stringify(bad)}`);

      const login = await send("service", world, {
        method: "POST",
        path: "/internal/login-attempts",
        body: JSON.stringify({
          userId: null,
          username: bad,
          method: "PASSWORD",
          success: false,
          reason: "x",
        }),
      });
      expectBadRequestNaming(login, "body.username", `POST /internal/login-attempts ${JSON.stringify(bad)}`);
    }
    const filter = await send("auditor", world, { method: "GET", path: "/audit/events?aggregateType=a%00b" });
    expectBadRequestNaming(filter, "query.aggregateType", "GET /audit/events aggregateType with U+0000");
  });

  it("an integer beyond its column's range is a 400 naming the field", async () => {
    const route = serviceRoutes.find((routeCase) => routeCase.route === "/ai/models") as RouteCase;
    const { body } = route.request(world, "own");
    const sent = await send("admin", world, {
      method: "POST",
      path: "/ai/models",
      body: JSON.stringify({ ...(body as object), datasetSize: 3e9 }),
    });
    expectBadRequestNaming(sent, "body.datasetSize", "datasetSize 3e9");
  });
});

/** The routes as the OpenAPI document declares them, with what a request can change in each. */
async function documentedOperations(): Promise<
  Array<{ method: string; route: string; shape: OperationShape }>
> {
  const document = (await (await app.request("/openapi.json")).json()) as {
    paths: Record<
      string,
      Record<
        string,
        {
          parameters?: Array<{ in: string; name: string }>;
          requestBody?: { content: Record<string, { schema: JsonSchema }> };
        }
      >
    >;
  };
  return Object.entries(document.paths).flatMap(([route, operations]) =>
    Object.entries(operations).map(([method, operation]) => {
      const named = (where: string) =>
        (operation.parameters ?? []).filter((p) => p.in === where).map((p) => p.name);
      return {
        method: method.toUpperCase(),
        route,
        shape: {
          pathParams: named("path"),
          queryParams: named("query"),
          headerParams: named("header"),
          bodySchema: operation.requestBody?.content["application/json"]?.schema,
        },
      };
    }),
  );
}

/** A role that may call the route on any record, so that a refusal is about the input, not who sent it. */
const PREFERRED_ROLES: Role[] = ["admin", "service", "auditor", "provider", "patient"];

describe("every route, with edge values in one part of a valid request", async () => {
  const operations = await documentedOperations();

  it("has a valid request for every documented route to start from", () => {
    const known = new Set(serviceRoutes.map((routeCase) => `${routeCase.method} ${routeCase.route}`));
    const documented = operations.filter((operation) => !operation.route.startsWith("/health"));
    expect(documented.length).toBeGreaterThan(25);
    expect(
      documented.map(({ method, route }) => `${method} ${route}`).filter((key) => !known.has(key)),
    ).toEqual([]);
  });

  for (const { method, route, shape } of operations) {
    const routeCase = serviceRoutes.find(
      (candidate) => candidate.method === method && candidate.route === route,
    );
    if (!routeCase) continue;
    const role = PREFERRED_ROLES.find((candidate) => routeCase.expected[candidate].own < 300);
    if (!role) continue;

    it(`${method} ${route}: never a 5xx, and a 4xx changes nothing`, async () => {
      // A fresh world after each success: a deleted patient or a cancelled visit would answer everything after
      // it with the same 404 or 409.
      let world = await careWorld(db);
      let valid = routeCase.request(world, "own");
      let stale = false;
      await fc.assert(
        // The edge request is drawn from a seed the property draws, so that it can be built on the world of
        // the moment (its ids) and still be the same change in every run of the file.
        fc.asyncProperty(fc.integer(), fc.context(), async (requestSeed, log) => {
          if (stale) {
            world = await careWorld(db);
            valid = routeCase.request(world, "own");
            stale = false;
          }
          const [request] = fc.sample(edgeRequests(shape, route, valid), { seed: requestSeed, numRuns: 1 });
          if (!request) throw new Error("no request drawn");
          log.log(request.change);
          const sent = await send(role, world, { method, ...request }, routeCase);
          const what = `${method} ${route} with ${request.change}: ${sent.status}`;
          expect(sent.status, what).toBeLessThan(500);
          if (sent.status >= 400) expectRefusedCleanly(sent, what);
          else stale = true;
        }),
        { seed: SEED, numRuns: RUNS_PER_ROUTE, endOnFailure: true },
      );
    });
  }
});

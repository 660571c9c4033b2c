// The authorization matrix (test/serviceRoutes.ts): every service route × every role × the caller's own record
// or another's, with the expected status. A refused request (403) changes no table and leaves exactly one event, its
// audit.compliance.violation naming the caller; an allowed one leaves its audit event and no violation.
// A request without a token is a 401 on every route and leaves nothing at all.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { type CareWorld, careWorld } from "../test/careWorld.ts";
import { testDatabase } from "../test/fixtures.ts";
import { eventsOf, loginOf, stateDigest } from "../test/platformState.ts";
import { type Outcome, roles, serviceRoutes } from "../test/serviceRoutes.ts";
import { caller, testPlatform } from "../test/tokens.ts";
import type { Role } from "./http/auth.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const ACTOR_ROLES: Record<Role, string> = {
  patient: "PATIENT",
  provider: "PROVIDER",
  admin: "ADMIN",
  auditor: "AUDITOR",
  service: "SYSTEM",
};

describe("the authorization matrix", () => {
  for (const routeCase of serviceRoutes) {
    it(`${routeCase.method} ${routeCase.route}`, async () => {
      const actual = {} as Record<Role, Outcome>;
      for (const role of roles) {
        const outcome = { own: 0, other: 0 };
        for (const target of ["own", "other"] as const) {
          const world = await careWorld(db);
          const user = await caller(role, loginOf(role, world, routeCase));
          const { path, body } = routeCase.request(world, target);
          const correlationId = randomUUID();
          const before = await stateDigest(db);
          const response = await app.request(path, {
            method: routeCase.method,
            headers: user.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
          outcome[target] = response.status;
          const events = await eventsOf(db, correlationId);
          const where = `${role} on ${target} record`;
          if (response.status === 403) {
            expect(await stateDigest(db), `${where}: no table changed`).toBe(before);
            expect(
              events.map((event) => event.type),
              `${where}: only the violation`,
            ).toEqual(["audit.compliance.violation"]);
            expect(events[0]?.data, where).toMatchObject({
              actorId: user.userId,
              actorRole: ACTOR_ROLES[role],
            });
          } else if (response.ok && !routeCase.unaudited) {
            expect(
              events.map((event) => event.type),
              `${where}: audited`,
            ).toEqual(
              expect.arrayContaining([
                expect.stringMatching(/^audit\.(data\.accessed|data\.modified|login\.attempt)$/),
              ]),
            );
            expect(
              events.map((event) => event.type),
              where,
            ).not.toContain("audit.compliance.violation");
          }
        }
        actual[role] = outcome;
      }
      expect(actual).toEqual(routeCase.expected);
    });
  }

  it("lists every service route of the OpenAPI document, so no route escapes the matrix", async () => {
    const document = (await (await app.request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(serviceRoutes.map((routeCase) => `${routeCase.method} ${routeCase.route}`).sort()).toEqual(
      documented.sort(),
    );
  });

  it("answers a request without a valid token with 401 on every route, and writes nothing", async () => {
    const world = await careWorld(db);
    for (const routeCase of serviceRoutes) {
      const { path, body } = routeCase.request(world, "own");
      for (const authorization of [undefined, "Bearer not-a-token"]) {
        const correlationId = randomUUID();
        const before = await stateDigest(db);
        const response = await app.request(path, {
          method: routeCase.method,
          headers: {
            "Content-Type": "application/json",
            "X-Correlation-Id": correlationId,
            ...(authorization ? { Authorization: authorization } : {}),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        expect(response.status, `${routeCase.method} ${routeCase.route}`).toBe(401);
        expect(await eventsOf(db, correlationId)).toEqual([]);
        expect(await stateDigest(db)).toBe(before);
      }
    }
  });
});

describe("a record's login (userId)", () => {
  const records = [
    {
      kind: "patient record",
      role: "patient",
      login: (world: CareWorld) => world.own.patientUserId,
      path: (world: CareWorld) => `/patients/${world.own.patientId}`,
      change: { firstName: "Renamed" },
      changeEvents: ["patient.updated", "audit.data.modified"],
    },
    {
      kind: "provider profile",
      role: "provider",
      login: (world: CareWorld) => world.own.providerUserId,
      path: (world: CareWorld) => `/providers/${world.own.providerId}`,
      change: { specialty: "cardiac surgery" },
      changeEvents: ["audit.data.modified"],
    },
  ] as const;
  for (const record of records) {
    it(`of a ${record.kind} may be changed by an admin only; sent back unchanged by its owner, it is no attempt and no refusal`, async () => {
      const world = await careWorld(db);
      const owner = await caller(record.role, record.login(world));
      const patch = async (body: Record<string, unknown>) => {
        const correlationId = randomUUID();
        const response = await app.request(record.path(world), {
          method: "PATCH",
          headers: owner.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
          body: JSON.stringify(body),
        });
        return {
          status: response.status,
          events: (await eventsOf(db, correlationId)).map((event) => event.type),
        };
      };

      // What a GET returned, PATCHed back with one real change: the change is made, the userId is not one.
      expect(await patch({ userId: record.login(world), ...record.change })).toEqual({
        status: 200,
        events: record.changeEvents,
      });
      const before = await stateDigest(db);
      expect(await patch({ userId: randomUUID() })).toEqual({
        status: 403,
        events: ["audit.compliance.violation"],
      });
      expect(await stateDigest(db)).toBe(before);
    });
  }
});

describe("a deleted patient's appointments and documents", () => {
  it("are a 404 naming no patient, to any caller", async () => {
    const world = await careWorld(db);
    const [admin, stranger] = await Promise.all([caller("admin"), caller("patient")]);
    const deleted = await app.request(`/patients/${world.own.patientId}`, {
      method: "DELETE",
      headers: admin.headers(),
    });
    expect(deleted.status).toBe(204);
    for (const path of [`/appointments/${world.own.appointmentId}`, `/documents/${world.own.documentId}`]) {
      for (const user of [admin, stranger]) {
        const response = await app.request(path, { headers: user.headers() });
        expect(response.status, path).toBe(404);
        expect(await response.text(), path).not.toContain(world.own.patientId);
      }
    }
  });
});

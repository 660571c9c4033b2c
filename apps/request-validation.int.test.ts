// Every route that takes a body refuses what it does not know and what is too big, before doing anything:
// an unknown field is a 400 problem naming it, a body over 64 KiB a 413, and neither leaves a row or an event.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld } from "../test/careWorld.ts";
import { testDatabase } from "../test/fixtures.ts";
import { eventsOf, loginOf, stateDigest } from "../test/platformState.ts";
import { roles, serviceRoutes } from "../test/serviceRoutes.ts";
import { caller, testPlatform } from "../test/tokens.ts";
import { MAX_BODY_BYTES } from "./http/service.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

/** The routes that change something, each called by a role that may call it on its own record. */
const routesWithBodies = serviceRoutes.filter((routeCase) => routeCase.method !== "GET");

async function send(
  routeCase: (typeof serviceRoutes)[number],
  mutate: (body: Record<string, unknown>) => string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string> = {},
) {
  const world = await careWorld(db);
  const role = roles.find((candidate) => routeCase.expected[candidate].own < 300);
  if (!role) throw new Error(`no role may call ${routeCase.route}`);
  const user = await caller(role, loginOf(role, world));
  const { path, body } = routeCase.request(world, "own");
  const correlationId = randomUUID();
  const before = await stateDigest(db);
  const response = await app.request(path, {
    method: routeCase.method,
    headers: user.headers({
      "Content-Type": "application/json",
      "X-Correlation-Id": correlationId,
      ...headers,
    }),
    body: mutate((body ?? {}) as Record<string, unknown>),
  });
  return {
    takesBody: body !== undefined,
    response,
    problem: (await response.json()) as { errors?: Array<{ field: string }> },
    wroteNothing: async () => {
      expect(await stateDigest(db)).toBe(before);
      expect(await eventsOf(db, correlationId)).toEqual([]);
    },
  };
}

describe("request bodies", () => {
  for (const routeCase of routesWithBodies) {
    it(`${routeCase.method} ${routeCase.route} refuses bytes that are not UTF-8, a compressed body and another charset`, async () => {
      // A string field's value with a byte that no UTF-8 text holds: decoded, it would become U+FFFD.
      const invalid = await send(routeCase, (body) => {
        const text = Buffer.from(JSON.stringify({ ...body, unknownField: "A?a" }));
        text[text.indexOf("A?a") + 1] = 0xff;
        return new Uint8Array(text);
      });
      expect(invalid.response.status).toBe(400);
      await invalid.wroteNothing();
      if (!invalid.takesBody) return; // Refused as a body this route does not take; the rest is for bodies.
      expect(invalid.problem.errors).toEqual([{ field: "body", message: "is not valid UTF-8" }]);

      const compressed = await send(routeCase, (body) => JSON.stringify(body), {
        "Content-Encoding": "gzip",
      });
      expect(compressed.response.status).toBe(415);
      await compressed.wroteNothing();
      const utf16 = await send(routeCase, (body) => JSON.stringify(body), {
        "Content-Type": "application/json; charset=utf-16",
      });
      expect(utf16.response.status).toBe(415);
      await utf16.wroteNothing();
    });
  }

  for (const routeCase of routesWithBodies) {
    it(`${routeCase.method} ${routeCase.route} refuses an unknown field, naming it, and a body over the limit`, async () => {
      const unknown = await send(routeCase, (body) => JSON.stringify({ ...body, favouriteColour: "blue" }));
      expect(unknown.response.status).toBe(400);
      expect(unknown.response.headers.get("content-type")).toBe("application/problem+json");
      expect(unknown.problem.errors?.map((error) => error.field)).toContain(
        unknown.takesBody ? "body.favouriteColour" : "body",
      );
      await unknown.wroteNothing();

      const huge = await send(routeCase, (body) =>
        JSON.stringify({ ...body, padding: "x".repeat(MAX_BODY_BYTES) }),
      );
      expect(huge.response.status).toBe(413);
      expect(huge.response.headers.get("content-type")).toBe("application/problem+json");
      await huge.wroteNothing();
    });
  }

  it("DELETE /documents/{id}, whose body is optional, reads an empty body sent as application/json as none", async () => {
    const world = await careWorld(db);
    const patient = await caller("patient", loginOf("patient", world));
    const response = await app.request(`/documents/${world.own.documentId}`, {
      method: "DELETE",
      headers: patient.headers({ "Content-Type": "application/json" }),
      body: "",
    });
    expect(response.status).toBe(204);
    const deleted = await db.$client.query(
      "SELECT 1 FROM outbox WHERE aggregate_id = $1 AND event_type = 'document.deleted'",
      [world.own.documentId],
    );
    expect(deleted.rowCount).toBe(1);
  });
});

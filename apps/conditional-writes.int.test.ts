// A write sent with If-Match is a client asking not to overwrite a change it has not seen (RFC 9110 §13.1.1).
// The API issues no entity tags, so no tag it is sent can match: the write is refused with a 412 and nothing is
// written. Before, the header was ignored and the write applied, unconditionally: the lost update the client
// had asked to be protected from. `If-Match: *` (any current representation) leaves the write as it is.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld } from "../test/careWorld.ts";
import { testDatabase } from "../test/fixtures.ts";
import { eventsOf, loginOf, stateDigest } from "../test/platformState.ts";
import { roles, serviceRoutes } from "../test/serviceRoutes.ts";
import { caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const writes = serviceRoutes.filter((routeCase) => routeCase.method !== "GET");

async function send(routeCase: (typeof writes)[number], conditions: Record<string, string>) {
  const world = await careWorld(db);
  const role = roles.find((candidate) => routeCase.expected[candidate].own < 300);
  if (!role) throw new Error(`no role may call ${routeCase.route}`);
  const user = await caller(role, loginOf(role, world, routeCase));
  const { path, body } = routeCase.request(world, "own");
  const correlationId = randomUUID();
  const before = await stateDigest(db);
  const response = await app.request(path, {
    method: routeCase.method,
    headers: user.headers({
      "Content-Type": "application/json",
      "X-Correlation-Id": correlationId,
      ...conditions,
    }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    response,
    problem: text === "" ? undefined : (JSON.parse(text) as { errors?: Array<{ field: string }> }),
    changed: (await stateDigest(db)) !== before,
    events: (await eventsOf(db, correlationId)).map((event) => event.type),
  };
}

describe("a write with If-Match", () => {
  it("is among the routes: every write the API has", () => {
    expect(writes.length).toBeGreaterThan(20);
  });

  for (const routeCase of writes) {
    it(`${routeCase.method} ${routeCase.route}: an entity tag is a 412 that writes nothing; * writes`, async () => {
      for (const ifMatch of ['"v1"', 'W/"v1"', '"a", "b"', "garbage"]) {
        const refused = await send(routeCase, { "If-Match": ifMatch });
        expect(refused.response.status, ifMatch).toBe(412);
        expect(refused.response.headers.get("content-type")).toBe("application/problem+json");
        expect(refused.problem?.errors?.map((error) => error.field)).toEqual(["header.if-match"]);
        expect(refused.changed, ifMatch).toBe(false);
        expect(refused.events, ifMatch).toEqual([]);
      }
      const any = await send(routeCase, { "If-Match": "*" });
      expect(any.response.status).toBeLessThan(300);
    });
  }
});

// If-None-Match: * asks that the target have no current representation (RFC 9110 §13.1.2), as a client does
// that believes the record absent and must not overwrite it. A PUT, PATCH or DELETE writes a record that exists
// whenever the write can be done, so there it is a 412 that writes nothing; before, the header was ignored and
// the write applied. A POST's target (a collection, an action) has no representation of its own: it writes.
describe("a write with If-None-Match", () => {
  for (const routeCase of writes) {
    const writesARecord = ["PUT", "PATCH", "DELETE"].includes(routeCase.method);
    it(`${routeCase.method} ${routeCase.route}: * ${writesARecord ? "is a 412 that writes nothing" : "writes"}; an entity tag writes`, async () => {
      for (const ifNoneMatch of ["*", " * ", '"v1", *']) {
        const sent = await send(routeCase, { "If-None-Match": ifNoneMatch });
        if (writesARecord) {
          expect(sent.response.status, ifNoneMatch).toBe(412);
          expect(sent.response.headers.get("content-type")).toBe("application/problem+json");
          expect(sent.problem?.errors?.map((error) => error.field)).toEqual(["header.if-none-match"]);
          expect(sent.changed, ifNoneMatch).toBe(false);
          expect(sent.events, ifNoneMatch).toEqual([]);
        } else {
          expect(sent.response.status, ifNoneMatch).toBeLessThan(300);
        }
      }
      const tagged = await send(routeCase, { "If-None-Match": '"v1"' });
      expect(tagged.response.status).toBeLessThan(300);
    });
  }
});

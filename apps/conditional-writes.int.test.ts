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

async function send(routeCase: (typeof writes)[number], ifMatch: string) {
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
      "If-Match": ifMatch,
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
        const refused = await send(routeCase, ifMatch);
        expect(refused.response.status, ifMatch).toBe(412);
        expect(refused.response.headers.get("content-type")).toBe("application/problem+json");
        expect(refused.problem?.errors?.map((error) => error.field)).toEqual(["header.if-match"]);
        expect(refused.changed, ifMatch).toBe(false);
        expect(refused.events, ifMatch).toEqual([]);
      }
      const any = await send(routeCase, "*");
      expect(any.response.status).toBeLessThan(300);
    });
  }
});

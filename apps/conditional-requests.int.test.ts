// Conditional requests (RFC 9110 §13): the API issues no entity tags, and says what each condition then means.
//
// A write sent with If-Match is a client asking not to overwrite a change it has not seen (RFC 9110 §13.1.1).
// The API issues no entity tags, so no tag it is sent can match: the write is refused with a 412 and nothing is
// written. Before, the header was ignored and the write applied, unconditionally: the lost update the client
// had asked to be protected from. `If-Match: *` (any current representation) leaves the write as it is.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld } from "../test/careWorld.ts";
import { testDatabase } from "../test/fixtures.ts";
import { eventsOf, loginOf, stateDigest } from "../test/platformState.ts";
import { type RouteCase, roles, serviceRoutes } from "../test/serviceRoutes.ts";
import { caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const writes = serviceRoutes.filter((routeCase) => routeCase.method !== "GET");
const reads = serviceRoutes.filter((routeCase) => routeCase.method === "GET");

/** A role the route lets in: one it answers with a success, else one it answers at all (a lookup's 404). */
function callerOf(routeCase: RouteCase) {
  const role =
    roles.find((candidate) => routeCase.expected[candidate].own < 300) ??
    roles.find((candidate) => routeCase.expected[candidate].own !== 403);
  if (!role) throw new Error(`no role may call ${routeCase.route}`);
  return role;
}

async function send(routeCase: RouteCase, conditions: Record<string, string>, method = routeCase.method) {
  const world = await careWorld(db);
  const role = callerOf(routeCase);
  const user = await caller(role, loginOf(role, world, routeCase));
  const { path, body } = routeCase.request(world, "own");
  const correlationId = randomUUID();
  const before = await stateDigest(db);
  const response = await app.request(path, {
    method,
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
    text,
    problem: text === "" ? undefined : (JSON.parse(text) as { errors?: Array<{ field: string }> }),
    changed: (await stateDigest(db)) !== before,
    events: (await eventsOf(db, correlationId)).map((event) => event.type),
  };
}

/** If-Match naming entity tags, in every spelling: a 412 naming the header, which reads and writes nothing. */
async function expectEntityTagsRefused(routeCase: RouteCase) {
  for (const ifMatch of ['"v1"', 'W/"v1"', '"a", "b"', "garbage"]) {
    const refused = await send(routeCase, { "If-Match": ifMatch });
    expect(refused.response.status, ifMatch).toBe(412);
    expect(refused.response.headers.get("content-type")).toBe("application/problem+json");
    expect(refused.problem?.errors?.map((error) => error.field)).toEqual(["header.if-match"]);
    expect(refused.changed, ifMatch).toBe(false);
    expect(refused.events, ifMatch).toEqual([]);
  }
}

describe("a write with If-Match", () => {
  it("is among the routes: every write the API has", () => {
    expect(writes.length).toBeGreaterThan(20);
  });

  for (const routeCase of writes) {
    it(`${routeCase.method} ${routeCase.route}: an entity tag is a 412 that writes nothing; * writes`, async () => {
      await expectEntityTagsRefused(routeCase);
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

// A read is conditional the same way (RFC 9110 §13.2.2). If-Match naming an entity tag is a 412 before anything
// is read (nothing recorded in the audit history); `*` reads. If-None-Match: `*` is false wherever the record
// exists, so the read answers 304 without a body; where it does not, the 404 it would answer anyway.
describe("a read with If-Match or If-None-Match", () => {
  it("is among the routes: every read the API has", () => {
    expect(reads.length).toBeGreaterThan(5);
  });

  for (const routeCase of reads) {
    // What the read answers unconditioned: a 200, or a lookup's 404 for the care world has no such event.
    const answer = routeCase.expected[callerOf(routeCase)].own;
    const audited = answer === 200 && routeCase.unaudited !== true;

    it(`GET ${routeCase.route}: an entity tag in If-Match is a 412 that reads nothing; * reads`, async () => {
      await expectEntityTagsRefused(routeCase);
      const any = await send(routeCase, { "If-Match": "*" });
      expect(any.response.status).toBe(answer);
      expect(any.text).not.toBe("");
    });

    const conditioned =
      answer === 200 ? "is a 304 without a body" : `is the ${answer} it would be without it`;
    it(`GET and HEAD ${routeCase.route}: If-None-Match * ${conditioned}; an entity tag reads`, async () => {
      for (const method of ["GET", "HEAD"]) {
        for (const ifNoneMatch of ["*", " * ", '"v1", *']) {
          const sent = await send(routeCase, { "If-None-Match": ifNoneMatch }, method);
          const where = `${method} ${ifNoneMatch}`;
          expect(sent.response.headers.get("x-correlation-id"), where).not.toBeNull();
          expect(sent.response.headers.get("cache-control"), where).toBe("no-store");
          // The same read as the answer it stands for: authorized and recorded as one.
          if (audited) expect(sent.events, where).toContain("audit.data.accessed");
          if (answer !== 200) {
            expect(sent.response.status, where).toBe(answer);
            continue;
          }
          expect(sent.response.status, where).toBe(304);
          expect(sent.text, where).toBe("");
          expect(sent.response.headers.get("content-type"), where).toBeNull();
          expect(sent.response.headers.get("content-length"), where).toBeNull();
        }
      }
      const tagged = await send(routeCase, { "If-None-Match": '"v1"' });
      expect(tagged.response.status).toBe(answer);
      expect(tagged.text).not.toBe("");
    });
  }

  it("GET of a record that is not there with If-None-Match * is the 404 it would be without it", async () => {
    const user = await caller("admin");
    const response = await app.request(`/patients/${randomUUID()}`, {
      headers: user.headers({ "If-None-Match": "*" }),
    });
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
  });
});

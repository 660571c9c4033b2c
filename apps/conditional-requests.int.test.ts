// Conditional requests (RFC 9110 §13): every JSON answer of a read and a PATCH carries an entity tag (ETag; a
// patient's consents, the one PUT, answer with the consents alone, without one), and each condition is evaluated
// against it (apps/http/preconditions.ts).
//
// A write sent with If-Match is a client asking not to overwrite a change it has not seen (RFC 9110 §13.1.1):
// with the tag it read, the write is done; with any other, it is a 412 and nothing is written. A POST's target
// (a collection, an action) has no representation: any If-Match there, `*` too, is a 412.
import { randomUUID } from "node:crypto";
import { z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { type CareWorld, careWorld } from "../test/careWorld.ts";
import { silentLog, testDatabase, testMasterKeys } from "../test/fixtures.ts";
import { eventsOf, loginOf, stateDigest } from "../test/platformState.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { type RouteCase, roles, serviceRoutes, type Target } from "../test/serviceRoutes.ts";
import { caller, testPlatform, testVerifier } from "../test/tokens.ts";
import { dataModified } from "./http/auditEvents.ts";
import { eventContext } from "./http/eventContext.ts";
import { answerOnce } from "./http/idempotency.ts";
import { json, securedRoute } from "./http/openapi.ts";
import { entityTagOf } from "./http/preconditions.ts";
import { createRouter, createServiceFrame } from "./http/service.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const writes = serviceRoutes.filter((routeCase) => routeCase.method !== "GET");
interface Operation {
  parameters: Array<{ name: string; in: string; description?: string }>;
  responses: Record<string, { headers?: object }>;
}
const published = (await (await app.request("/openapi.json")).json()) as {
  paths: Record<string, Record<string, Operation>>;
};
const operationOf = (routeCase: RouteCase) =>
  published.paths[routeCase.route]?.[routeCase.method.toLowerCase()] as Operation;

/** The record whose ETag a write's If-Match names, as the document says it: the path of its GET, or none. */
function recordOf(routeCase: RouteCase): string | undefined {
  const ifMatch = operationOf(routeCase).parameters.find((parameter) => parameter.name === "if-match");
  return /the ETag of `GET ([^`]+)`/.exec(ifMatch?.description ?? "")?.[1];
}
const recordWrites = writes.filter((routeCase) => recordOf(routeCase) !== undefined);
const posts = writes.filter((routeCase) => recordOf(routeCase) === undefined);
const reads = serviceRoutes.filter((routeCase) => routeCase.method === "GET");
/**
 * The reads of one record, whose answer stays the same bytes until the record changes. The audit history's
 * answers are not: each read above is recorded in the history they list.
 */
const RECORDS = ["/patients/{id}", "/providers/{id}", "/appointments/{id}", "/documents/{id}"];

/** A role the route lets in: one it answers with a success, else one it answers at all (a lookup's 404). */
function callerOf(routeCase: RouteCase) {
  const role =
    roles.find((candidate) => routeCase.expected[candidate].own < 300) ??
    roles.find((candidate) => routeCase.expected[candidate].own !== 403);
  if (!role) throw new Error(`no role may call ${routeCase.route}`);
  return role;
}

interface Sending {
  /** The records it is sent about: a new care world unless given. */
  world?: CareWorld;
  method?: string;
  /** Another path than the route's: the record an action acts on. */
  path?: (routePath: string) => string;
  /** The caller's own record (the default), or another's. */
  target?: Target;
}

async function send(routeCase: RouteCase, conditions: Record<string, string>, sending: Sending = {}) {
  const world = sending.world ?? (await careWorld(db));
  const role = callerOf(routeCase);
  const user = await caller(role, loginOf(role, world, routeCase));
  const method = sending.method ?? routeCase.method;
  const request = routeCase.request(world, sending.target ?? "own");
  const { body } = request;
  const path = sending.path?.(request.path) ?? request.path;
  const correlationId = randomUUID();
  const before = await stateDigest(db);
  const response = await app.request(path, {
    method,
    headers: user.headers({
      "Content-Type": "application/json",
      "X-Correlation-Id": correlationId,
      ...conditions,
    }),
    body: body === undefined || method === "GET" || method === "HEAD" ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const problem = response.headers.get("content-type") === "application/problem+json" && text !== "";
  return {
    response,
    text,
    etag: response.headers.get("etag"),
    problem: problem
      ? (JSON.parse(text) as { detail?: string; errors?: Array<{ field: string }> })
      : undefined,
    changed: (await stateDigest(db)) !== before,
    events: (await eventsOf(db, correlationId)).map((event) => event.type),
  };
}

type Sent = Awaited<ReturnType<typeof send>>;

/** A refusal naming the header, which wrote nothing and recorded nothing. */
function expectRefused(sent: Sent, status: number, header: string, where: string) {
  expect(sent.response.status, where).toBe(status);
  expect(sent.response.headers.get("content-type"), where).toBe("application/problem+json");
  expect(
    sent.problem?.errors?.map((error) => error.field),
    where,
  ).toEqual([`header.${header}`]);
  expect(sent.changed, where).toBe(false);
  expect(sent.events, where).toEqual([]);
}

/** Values that are no list of entity tags: a 400 naming the header, before anything is read or written. */
const MALFORMED = ["garbage", "v1", '"unterminated', '"a" "b"', "W/v1", ","];

describe("a condition that is no list of entity tags", () => {
  for (const routeCase of serviceRoutes) {
    it(`${routeCase.method} ${routeCase.route}: is a 400 naming the header, which does nothing`, async () => {
      for (const header of ["if-match", "if-none-match"]) {
        for (const value of MALFORMED) {
          expectRefused(await send(routeCase, { [header]: value }), 400, header, `${header}: ${value}`);
        }
      }
      // `*` among tags, or twice: If-Match refuses it; If-None-Match reads it as `*`, the stronger condition there.
      for (const value of ['"a", *', "*, *"]) {
        expectRefused(await send(routeCase, { "If-Match": value }), 400, "if-match", value);
      }
    });
  }
});

describe("a POST with If-Match or If-None-Match", () => {
  for (const routeCase of posts) {
    it(`${routeCase.route}: If-Match, an entity tag or *, is a 412 that writes nothing; If-None-Match writes`, async () => {
      for (const ifMatch of ['"v1"', 'W/"v1"', '"a", "b"', "*", " * "]) {
        expectRefused(await send(routeCase, { "If-Match": ifMatch }), 412, "if-match", ifMatch);
      }
      // The 400 it would answer unconditioned comes first.
      const badKey = await send(routeCase, { "If-Match": '"v1"', "Idempotency-Key": "a key with spaces" });
      expectRefused(badKey, 400, "idempotency-key", "a malformed Idempotency-Key");
      for (const ifNoneMatch of ["*", '"v1"', '"v1", *']) {
        const sent = await send(routeCase, { "If-None-Match": ifNoneMatch });
        expect(sent.response.status, ifNoneMatch).toBeLessThan(300);
      }
    });
  }
});

// A POST whose 201 answers with the record it created, as that record's GET answers it, gives the record's tag:
// its client can make its first write conditional without reading the record first.
describe("a creation", () => {
  const creations = posts.filter((routeCase) =>
    Object.hasOwn(operationOf(routeCase).responses[201]?.headers ?? {}, "ETag"),
  );

  it("is among the routes: every POST answered with the record it created", () => {
    expect(creations.map((routeCase) => routeCase.route).sort()).toEqual([
      "/appointments",
      "/documents",
      "/patients",
      "/providers",
    ]);
  });

  for (const routeCase of creations) {
    it(`POST ${routeCase.route}: answers with the new record's ETag, named in Content-Location`, async () => {
      const world = await careWorld(db);
      const created = await send(routeCase, {}, { world });
      expect(created.response.status).toBe(201);
      const location = created.response.headers.get("location") as string;
      expect(created.response.headers.get("content-location")).toBe(location);
      expect(created.etag).toBe(entityTagOf(created.text));
      const read = await send(routeCase, {}, { world, method: "GET", path: () => location });
      expect(read.response.status).toBe(200);
      expect(read.etag).toBe(created.etag);
    });
  }

  it("POST /patients: the tag it answers makes the first PATCH conditional", async () => {
    const admin = await caller("admin");
    const created = await app.request("/patients", {
      method: "POST",
      headers: admin.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(requestBodies.patient()),
    });
    const path = created.headers.get("location") as string;
    const patch = (tag: string) =>
      app.request(path, {
        method: "PATCH",
        headers: admin.headers({ "Content-Type": "application/json", "If-Match": tag }),
        body: JSON.stringify({ allergies: [`allergy ${randomUUID()}`] }),
      });
    const tag = created.headers.get("etag") as string;
    expect((await patch(tag)).status).toBe(200);
    expect((await patch(tag)).status).toBe(412);
  });
});

/** The path of the record a write is to: its own, or that of the record an action (`…/{id}/cancel`) acts on. */
const recordPath = (routeCase: RouteCase) => (path: string) =>
  path
    .split("/")
    .slice(0, (recordOf(routeCase) as string).split("/").length)
    .join("/");

/** The record's current entity tag as its client learns it: its GET's. */
async function currentTag(routeCase: RouteCase, world: CareWorld): Promise<string> {
  const sent = await send(routeCase, {}, { world, method: "GET", path: recordPath(routeCase) });
  expect(sent.response.status).toBe(200);
  expect(sent.etag).toBe(entityTagOf(sent.text));
  return sent.etag as string;
}

describe("a write to a record with If-Match or If-None-Match", () => {
  it("is among the routes: every write to a record the API has", () => {
    expect(recordWrites.map((routeCase) => `${routeCase.method} ${routeCase.route}`).sort()).toEqual([
      "DELETE /documents/{id}",
      "DELETE /patients/{id}",
      "PATCH /patients/{id}",
      "PATCH /providers/{id}",
      "POST /appointments/{id}/cancel",
      "POST /appointments/{id}/complete",
      "POST /documents/{id}/processing-results",
      "POST /patients/{id}/erasure",
      "PUT /patients/{id}/consent",
    ]);
  });

  for (const routeCase of recordWrites) {
    it(`${routeCase.method} ${routeCase.route}: writes with the record's ETag, refuses any other with a 412 that writes nothing`, async () => {
      const world = await careWorld(db);
      const tag = await currentTag(routeCase, world);
      // A tag the record never had, the current one weak (If-Match compares strongly), or another record's.
      const otherTag = await currentTag(routeCase, await careWorld(db));
      for (const ifMatch of ['"v1"', `W/${tag}`, otherTag, `"v1", ${otherTag}`]) {
        expectRefused(await send(routeCase, { "If-Match": ifMatch }, { world }), 412, "if-match", ifMatch);
      }
      // If-None-Match: `*` (the record exists) or its tag, weak or not, is a 412; another tag is met.
      for (const ifNoneMatch of ["*", " * ", '"v1", *', tag, `W/${tag}`, `"v1", ${tag}`]) {
        const sent = await send(routeCase, { "If-None-Match": ifNoneMatch }, { world });
        expectRefused(sent, 412, "if-none-match", ifNoneMatch);
      }
      // A tag may hold a comma: it is inside the quotes, not between members.
      const met = await send(
        routeCase,
        { "If-Match": `"v,1",\t${tag}`, "If-None-Match": otherTag },
        { world },
      );
      expect(met.response.status).toBeLessThan(300);
      expect(met.changed).toBe(true);
      const { path } = routeCase.request(world, "own");
      const answersWithRecord = Object.hasOwn(operationOf(routeCase).responses[200]?.headers ?? {}, "ETag");
      if (!answersWithRecord) {
        // A deletion's 204, an erasure's report, the consents alone: no representation of the record.
        expect(met.etag).toBeNull();
      } else if (recordPath(routeCase)(path) !== path) {
        // The answer is the record after the action, named in Content-Location, with the tag a GET now answers.
        expect(met.response.headers.get("content-location")).toBe(recordPath(routeCase)(path));
        expect(met.etag).toBe(entityTagOf(met.text));
        expect(await currentTag(routeCase, world)).toBe(met.etag);
        expect(met.etag).not.toBe(tag);
      } else {
        // The answer is the record as written now, with its tag: the next conditional write's.
        expect(met.etag).toBe(entityTagOf(met.text));
        const again = await send(routeCase, { "If-Match": met.etag as string }, { world });
        expect(again.response.status).toBe(200);
      }
    });
  }

  for (const routeCase of recordWrites) {
    it(`${routeCase.method} ${routeCase.route}: a 400, 403 or 404 it would answer unconditioned comes before the 412`, async () => {
      const world = await careWorld(db);
      const stale = { "If-Match": '"v1"' };
      const badKey = await send(routeCase, { ...stale, "Idempotency-Key": "a key with spaces" }, { world });
      expectRefused(badKey, 400, "idempotency-key", "a malformed Idempotency-Key");
      const unknown = await send(routeCase, stale, {
        world,
        path: (path) => path.replace(/[0-9a-f-]{36}/, randomUUID()),
      });
      expect(unknown.response.status).toBe(404);
      expect(unknown.changed).toBe(false);
      // Another's record, for a role that reaches only its own: the 403, recorded as a violation.
      const role = callerOf(routeCase);
      if (routeCase.expected[role].other === 403) {
        const others = await send(routeCase, stale, { world, target: "other" });
        expect(others.response.status).toBe(403);
        expect(others.events).toEqual(["audit.compliance.violation"]);
      }
    });
  }

  it("refuses the lost update: a PATCH with the tag read before another client's change writes nothing", async () => {
    const world = await careWorld(db);
    const admin = await caller("admin");
    const path = `/patients/${world.own.patientId}`;
    const read = await app.request(path, { headers: admin.headers() });
    const tag = read.headers.get("etag") as string;
    expect(tag).toBe(entityTagOf(await read.text()));
    const patch = (body: object, conditions: Record<string, string>) =>
      app.request(path, {
        method: "PATCH",
        headers: admin.headers({ "Content-Type": "application/json", ...conditions }),
        body: JSON.stringify(body),
      });

    const [mine, theirs] = [`allergy ${randomUUID()}`, `allergy ${randomUUID()}`];
    const first = await patch({ allergies: [mine] }, { "If-Match": tag });
    expect(first.status).toBe(200);
    const written = first.headers.get("etag");
    expect(written).not.toBe(tag);
    const second = await patch({ allergies: [theirs] }, { "If-Match": tag });
    expect(second.status).toBe(412);
    const now = await app.request(path, { headers: admin.headers() });
    expect(((await now.json()) as { allergies: string[] }).allergies).toEqual([mine]);
    // A GET answers the tag the write answered: the representation is the same.
    expect(now.headers.get("etag")).toBe(written);
    expect((await patch({ allergies: [theirs] }, { "If-Match": written as string })).status).toBe(200);
  });

  it("lets exactly one of racing writers with the same tag write: the others get a 412 and write nothing", async () => {
    const world = await careWorld(db);
    const admin = await caller("admin");
    const path = `/patients/${world.own.patientId}`;
    const tag = (await app.request(path, { headers: admin.headers() })).headers.get("etag") as string;
    const allergies = Array.from({ length: 6 }, () => `allergy ${randomUUID()}`);
    const answers = await Promise.all(
      allergies.map((allergy) =>
        app.request(path, {
          method: "PATCH",
          headers: admin.headers({ "Content-Type": "application/json", "If-Match": tag }),
          body: JSON.stringify({ allergies: [allergy] }),
        }),
      ),
    );
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 412)).toHaveLength(allergies.length - 1);
    const winner = allergies[statuses.indexOf(200)];
    const now = (await (await app.request(path, { headers: admin.headers() })).json()) as {
      allergies: string[];
    };
    expect(now.allergies).toEqual([winner]);
    const updates = await db.execute<{ count: string }>(
      sql`SELECT count(*) FROM outbox WHERE aggregate_id = ${world.own.patientId} AND event_type = 'patient.updated'`,
    );
    expect(Number(updates.rows[0]?.count)).toBe(1);
  });

  it("evaluates the conditions after the record is found: a record that is not there is the 404", async () => {
    const admin = await caller("admin");
    const response = await app.request(`/patients/${randomUUID()}`, {
      method: "PATCH",
      headers: admin.headers({ "Content-Type": "application/json", "If-Match": '"v1"' }),
      body: JSON.stringify({ allergies: [] }),
    });
    expect(response.status).toBe(404);
  });
});

// A read is conditional the same way (RFC 9110 §13.2.2), against the tag of what it found: If-Match naming
// another is a 412; If-None-Match naming it (or `*`) is a 304 without a body. A read that finds nothing is the
// 404 it would be unconditioned. The record was read to compare, so the read is recorded either way.
describe("a read with If-Match or If-None-Match", () => {
  it("is among the routes: every read the API has", () => {
    expect(reads.length).toBeGreaterThan(5);
  });

  for (const routeCase of reads) {
    // What the read answers unconditioned: a 200, or a lookup's 404 for the care world has no such event.
    const answer = routeCase.expected[callerOf(routeCase)].own;
    const audited = answer === 200 && routeCase.unaudited !== true;

    it(`GET and HEAD ${routeCase.route}: answers with the ETag of its JSON, and evaluates both conditions against it`, async () => {
      const world = await careWorld(db);
      const plain = await send(routeCase, {}, { world });
      expect(plain.response.status).toBe(answer);
      const json = plain.response.headers.get("content-type") === "application/json";
      // An answer that is a stream (an export) has none: its bytes are not held to hash them.
      expect(plain.etag).toBe(answer === 200 && json ? entityTagOf(plain.text) : null);
      for (const method of ["GET", "HEAD"]) {
        const tag = plain.etag ?? '"v1"';
        const matched = await send(routeCase, { "If-Match": tag }, { world, method });
        const notMatched = await send(routeCase, { "If-Match": '"v1"' }, { world, method });
        const notModified = await send(routeCase, { "If-None-Match": `W/${tag}` }, { world, method });
        const modified = await send(routeCase, { "If-None-Match": '"v1"' }, { world, method });
        const any = await send(routeCase, { "If-None-Match": "*" }, { world, method });
        for (const [where, sent] of Object.entries({ matched, notMatched, notModified, modified, any })) {
          expect(sent.response.headers.get("x-correlation-id"), where).not.toBeNull();
          expect(sent.response.headers.get("cache-control"), where).toBe("no-store");
          // The same read as the answer it stands for: authorized and recorded as one.
          if (audited) expect(sent.events, `${method} ${where}`).toContain("audit.data.accessed");
          if (answer !== 200) expect(sent.response.status, `${method} ${where}`).toBe(answer);
        }
        if (answer !== 200) continue;
        expect(modified.response.status, method).toBe(200);
        expect(notMatched.response.status, method).toBe(412);
        if (method === "GET") {
          expect(notMatched.problem?.errors?.map((error) => error.field)).toEqual(["header.if-match"]);
          // A read's refusal does not say "nothing was done": the record was read, and an audited one recorded.
          expect(notMatched.problem?.detail).toMatch(/It was not sent: read it again/);
        }
        // A refusal: none of the headers of the answer it replaced (its tag, an export's file name).
        expect(notMatched.etag).toBeNull();
        expect(notMatched.response.headers.get("content-disposition")).toBeNull();
        for (const [where, sent] of Object.entries({ notModified, any })) {
          if (where === "notModified" && sent.response.status === 200) {
            expect(RECORDS, "a record's answer is the same twice over").not.toContain(routeCase.route);
            // Changed since (a listing), or never tagged (a stream): either way not the tag sent.
            if (plain.etag !== null) expect(sent.etag).not.toBe(plain.etag);
            continue;
          }
          expect(sent.response.status, `${method} ${where}`).toBe(304);
          expect(sent.text, where).toBe("");
          // The tag of the answer it stands for: a record's is the same as before.
          if (RECORDS.includes(routeCase.route)) expect(sent.etag, where).toBe(plain.etag);
          else if (plain.etag !== null) expect(sent.etag, where).not.toBeNull();
          expect(sent.response.headers.get("content-type"), where).toBeNull();
          expect(sent.response.headers.get("content-length"), where).toBeNull();
        }
        if (RECORDS.includes(routeCase.route)) {
          expect(matched.response.status, method).toBe(200);
          expect(notModified.response.status, method).toBe(304);
        }
      }
    });
  }

  it("GET of a record that is not there with a condition is the 404 it would be without it", async () => {
    const user = await caller("admin");
    for (const conditions of [{ "If-None-Match": "*" }, { "If-Match": '"v1"' }] as Record<string, string>[]) {
      const response = await app.request(`/patients/${randomUUID()}`, { headers: user.headers(conditions) });
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
    }
  });
});

// A route that names a record must compare its conditions (assertWriteConditions). One that does not, by a
// mistake to come, must not write unconditionally what its client sent conditioned: answerOnce rolls it back.
describe("a write to a record whose route never evaluates its conditions", () => {
  const forgetful = createServiceFrame({
    title: "forgetful",
    log: silentLog,
    registry: new Registry(),
    readiness: [],
    verifyToken: testVerifier,
    db,
    masterKeys: testMasterKeys,
  });
  const route = securedRoute(
    { source: "forgetful-service", resource: "patient", roles: ["admin"] },
    {
      method: "patch",
      path: "/forgetful/{id}",
      request: { params: z.object({ id: z.uuid() }) },
      responses: { 200: { description: "Written", content: json(z.object({ id: z.string() })) } },
    },
  );
  forgetful.route(
    "/",
    createRouter().openapi(route, async (c) => {
      const { id } = c.req.valid("param");
      const answer = await answerOnce(c, db, "forgetful-service", async (tx) => {
        await appendEvents(tx, eventContext(c, "forgetful-service"), [
          dataModified(c.get("principal"), { type: "patient", id, patientId: null }, "UPDATE"),
        ]);
        return { status: 200 as const, body: { id }, patientId: null };
      });
      return c.json(answer.body, answer.status);
    }),
  );

  it("is a 500 that writes nothing when conditions were sent, and writes without them", async () => {
    const admin = await caller("admin");
    const write = async (conditions: Record<string, string>) => {
      const correlationId = randomUUID();
      const response = await forgetful.request(`/forgetful/${randomUUID()}`, {
        method: "PATCH",
        headers: admin.headers({ "X-Correlation-Id": correlationId, ...conditions }),
      });
      return { status: response.status, events: await eventsOf(db, correlationId) };
    };
    const sent: Record<string, string>[] = [
      { "If-Match": '"v1"' },
      { "If-Match": "*" },
      { "If-None-Match": "*" },
    ];
    for (const conditions of sent) {
      expect(await write(conditions)).toEqual({ status: 500, events: [] });
    }
    const unconditioned = await write({});
    expect(unconditioned.status).toBe(200);
    expect(unconditioned.events.map((event) => event.type)).toEqual(["audit.data.modified"]);
  });
});

// Every route that takes a body refuses what it does not know and what is too big, before doing anything:
// an unknown field is a 400 problem naming it, a body over 64 KiB a 413, and neither leaves a row or an event.
// Every route refuses as well, writing nothing, a request whose Accept admits none of what it answers in (406).
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld, careWorldIds } from "../test/careWorld.ts";
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

interface Sent {
  /** The body sent, made from the route's own; none for a GET. */
  body?: (body: Record<string, unknown>) => string | Uint8Array<ArrayBuffer>;
  headers?: Record<string, string | null>;
  /** Query parameters added to the route's own (`a=1&b=2`). */
  query?: string;
  /** Send the route's own body, when it takes one (without `body`). */
  ownBody?: boolean;
  /** The route's own path, changed. */
  path?: (path: string) => string;
}

async function send(routeCase: (typeof serviceRoutes)[number], sent: Sent) {
  const world = await careWorld(db);
  const role = roles.find((candidate) => routeCase.expected[candidate].own !== 403);
  if (!role) throw new Error(`no role may call ${routeCase.route}`);
  const user = await caller(role, loginOf(role, world, routeCase));
  const own = routeCase.request(world, "own");
  const { body } = own;
  const path = sent.path ? sent.path(own.path) : own.path;
  const correlationId = randomUUID();
  const before = await stateDigest(db);
  const query = sent.query === undefined ? "" : `${path.includes("?") ? "&" : "?"}${sent.query}`;
  const response = await app.request(`${path}${query}`, {
    method: routeCase.method,
    // A header given as null is not sent.
    headers: Object.fromEntries(
      Object.entries<string | null>({
        ...user.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
        ...sent.headers,
      }).filter((entry): entry is [string, string] => entry[1] !== null),
    ),
    body: sent.body
      ? sent.body((body ?? {}) as Record<string, unknown>)
      : sent.ownBody && body !== undefined
        ? JSON.stringify(body)
        : null,
  });
  const text = await response.text();
  return {
    takesBody: body !== undefined,
    response,
    body,
    // (a success may be a 204, with no body)
    text,
    problem: (text === "" ? {} : JSON.parse(text)) as {
      title?: string;
      detail?: string;
      instance?: string;
      errors?: Array<{ field: string; message: string }>;
    },
    wroteNothing: async () => {
      expect(await stateDigest(db)).toBe(before);
      expect(await eventsOf(db, correlationId)).toEqual([]);
    },
  };
}

describe("request bodies", () => {
  for (const routeCase of routesWithBodies) {
    it(`${routeCase.method} ${routeCase.route} refuses bytes that are not UTF-8, a compressed body, a transfer coding but chunked and another charset`, async () => {
      // A string field's value with a byte that no UTF-8 text holds: decoded, it would become U+FFFD.
      const invalid = await send(routeCase, {
        body: (body) => {
          const text = Buffer.from(JSON.stringify({ ...body, unknownField: "A?a" }));
          text[text.indexOf("A?a") + 1] = 0xff;
          return new Uint8Array(text);
        },
      });
      expect(invalid.response.status).toBe(400);
      await invalid.wroteNothing();
      if (!invalid.takesBody) return; // Refused as a body this route does not take; the rest is for bodies.
      expect(invalid.problem.errors).toEqual([{ field: "body", message: "is not valid UTF-8" }]);

      const compressed = await send(routeCase, {
        body: (body) => JSON.stringify(body),
        headers: { "Content-Encoding": "gzip" },
      });
      expect(compressed.response.status).toBe(415);
      await compressed.wroteNothing();
      // Node's parser frames `gzip, chunked` by its chunks and hands on the bytes still coded: they were taken as
      // the body, uncompressed JSON in place of the gzip its sender named, and written.
      for (const transferEncoding of [
        "gzip, chunked",
        "deflate,chunked",
        "identity, chunked",
        "x-custom, Chunked",
      ]) {
        const coded = await send(routeCase, {
          body: (body) => JSON.stringify(body),
          headers: { "Transfer-Encoding": transferEncoding },
        });
        expect(coded.response.status, transferEncoding).toBe(415);
        expect(coded.problem.detail, transferEncoding).toMatch(/^Transfer-Encoding .+ is not accepted/);
        await coded.wroteNothing();
      }
      const chunked = await send(routeCase, { ownBody: true, headers: { "Transfer-Encoding": "Chunked" } });
      expect(chunked.response.status).toBe(ownOutcome(routeCase));
      const utf16 = await send(routeCase, {
        body: (body) => JSON.stringify(body),
        headers: { "Content-Type": "application/json; charset=utf-16" },
      });
      expect(utf16.response.status).toBe(415);
      await utf16.wroteNothing();
    });
  }

  for (const routeCase of routesWithBodies) {
    // RFC 8259 §8.1: no sender adds one; Request.json() dropped it silently and the body was taken.
    it(`${routeCase.method} ${routeCase.route} refuses a body that starts with a byte order mark, and takes it without`, async () => {
      const marked = await send(routeCase, { body: (body) => `\uFEFF${JSON.stringify(body)}` });
      expect(marked.response.status).toBe(400);
      expect(marked.response.headers.get("content-type")).toBe("application/problem+json");
      await marked.wroteNothing();
      expect(marked.problem.errors).toEqual([
        marked.takesBody
          ? { field: "body", message: "starts with a byte order mark" }
          : { field: "body", message: "must be empty: this route takes no body" },
      ]);
      if (!marked.takesBody) return;
      const unmarked = await send(routeCase, { ownBody: true });
      expect(unmarked.response.status).toBe(ownOutcome(routeCase));
    });
  }

  for (const routeCase of routesWithBodies) {
    it(`${routeCase.method} ${routeCase.route} refuses an unknown field, naming it, and a body over the limit`, async () => {
      const unknown = await send(routeCase, {
        body: (body) => JSON.stringify({ ...body, favouriteColour: "blue" }),
      });
      expect(unknown.response.status).toBe(400);
      expect(unknown.response.headers.get("content-type")).toBe("application/problem+json");
      expect(unknown.problem.errors?.map((error) => error.field)).toContain(
        unknown.takesBody ? "body.favouriteColour" : "body",
      );
      await unknown.wroteNothing();

      const huge = await send(routeCase, {
        body: (body) => JSON.stringify({ ...body, padding: "x".repeat(MAX_BODY_BYTES) }),
      });
      expect(huge.response.status).toBe(413);
      expect(huge.response.headers.get("content-type")).toBe("application/problem+json");
      await huge.wroteNothing();
    });
  }

  for (const routeCase of routesWithBodies) {
    it(`${routeCase.method} ${routeCase.route} refuses a body that names a member twice, whichever value comes last`, async () => {
      // JSON.parse keeps the last value, other readers of the body the first: both orders are refused.
      for (const order of ["stranger first", "same value last"] as const) {
        let name = "reason";
        const repeated = await send(routeCase, {
          body: (body) => {
            const [first, value] = Object.entries(body)[0] ?? [name, "a"];
            name = first;
            const own = JSON.stringify(Object.keys(body).length > 0 ? body : { [name]: value });
            const again = `"${name}":${order === "stranger first" ? '"not this"' : JSON.stringify(value)}`;
            return order === "stranger first" ? `{${again},${own.slice(1)}` : `${own.slice(0, -1)},${again}}`;
          },
        });
        expect(repeated.response.status).toBe(400);
        expect(repeated.problem.errors).toEqual([
          repeated.takesBody
            ? { field: `body.${name}`, message: "is given more than once" }
            : { field: "body", message: "must be empty: this route takes no body" },
        ]);
        await repeated.wroteNothing();
      }
    });
  }

  // JSON.parse rounds 480.00000000000001 to 480: a bound or a whole number checked after it passes a number
  // that is neither, and the record keeps another number than the one sent.
  const shapeOnly = careWorldIds();
  const withNumbers = routesWithBodies.filter((routeCase) =>
    Object.values(routeCase.request(shapeOnly, "own").body ?? {}).some((value) => typeof value === "number"),
  );
  it("sends a number more precise than a float to the routes whose bodies hold numbers", () => {
    expect(withNumbers.length).toBeGreaterThanOrEqual(3);
  });
  for (const routeCase of withNumbers) {
    it(`${routeCase.method} ${routeCase.route} refuses a number with more digits than a 64-bit float holds`, async () => {
      let name = "";
      const precise = await send(routeCase, {
        body: (body) => {
          const [first, value] = Object.entries(body).find(([, value]) => typeof value === "number") as [
            string,
            number,
          ];
          name = first;
          const written = Number.isInteger(value)
            ? `${value}.0000000000000000001`
            : `${value}0000000000000000001`;
          return JSON.stringify({ ...body, [name]: "placeholder" }).replace('"placeholder"', written);
        },
      });
      expect(precise.response.status).toBe(400);
      expect(precise.problem.errors).toEqual([
        {
          field: `body.${name}`,
          message: "has more digits than a 64-bit number holds: it would be read as another number",
        },
      ]);
      await precise.wroteNothing();
    });
  }

  for (const routeCase of routesWithBodies) {
    it(`${routeCase.method} ${routeCase.route} refuses a body that is not JSON, saying what to send`, async () => {
      const malformed = await send(routeCase, { body: (body) => `${JSON.stringify(body).slice(0, -1)},}` });
      expect(malformed.response.status).toBe(400);
      await malformed.wroteNothing();
      if (!malformed.takesBody) return; // Refused as a body this route does not take.
      expect(malformed.problem).toMatchObject({
        title: "Bad Request",
        detail: "Malformed JSON in request body",
        errors: [{ field: "body", message: "is not JSON" }],
      });

      const text = await send(routeCase, {
        body: (body) => JSON.stringify(body),
        headers: { "Content-Type": "text/plain" },
      });
      expect(text.response.status).toBe(415);
      expect(text.problem).toMatchObject({
        title: "Unsupported Media Type",
        detail: "Send the body as JSON, with Content-Type: application/json.",
      });
      await text.wroteNothing();
    });
  }

  it("refuses a request without the body its operation requires, saying so once, with or without a Content-Type", async () => {
    const document = (await (await app.request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { requestBody?: { required?: boolean } }>>;
    };
    const requiring = routesWithBodies.filter(
      (routeCase) => document.paths[routeCase.route]?.[routeCase.method.toLowerCase()]?.requestBody?.required,
    );
    expect(requiring.map((routeCase) => `${routeCase.method} ${routeCase.route}`)).toContain(
      "POST /patients",
    );
    for (const routeCase of requiring) {
      for (const headers of [{ "Content-Type": "application/json" }, { "Content-Type": null }]) {
        const missing = await send(routeCase, { body: () => "", headers });
        const what = `${routeCase.method} ${routeCase.route} ${JSON.stringify(headers)}`;
        expect(missing.response.status, what).toBe(400);
        expect(missing.problem.errors, what).toEqual([
          { field: "body", message: "is required: send the JSON this operation takes" },
        ]);
        await missing.wroteNothing();
      }
    }
  });

  for (const routeCase of routesWithBodies) {
    // As the document says (415: "not application/json in UTF-8"): before, any `application/…+json` was read as
    // JSON and written (a merge patch, a problem document), while RFC 9110's own spellings of application/json
    // (blanks before the `;`, a `;` with no parameter after it) were a 415.
    it(`${routeCase.method} ${routeCase.route} takes application/json in every spelling HTTP allows, and no other JSON type`, async () => {
      if (routeCase.request(await careWorld(db), "own").body === undefined) return;
      for (const contentType of [
        'Application/JSON ; Charset="UTF-8"',
        "application/json;",
        "application/json ;",
      ]) {
        const taken = await send(routeCase, { ownBody: true, headers: { "Content-Type": contentType } });
        expect(taken.response.status, contentType).toBeLessThan(300);
      }
      for (const contentType of [
        "application/merge-patch+json",
        "application/problem+json",
        "application/vnd.api+json; charset=utf-8",
        "application/json; charset=utf-8; charset=utf-16",
        "application/json; charset",
      ]) {
        const refused = await send(routeCase, { ownBody: true, headers: { "Content-Type": contentType } });
        expect(refused.response.status, contentType).toBe(415);
        expect(refused.problem.title, contentType).toBe("Unsupported Media Type");
        await refused.wroteNothing();
      }
    });
  }

  it("lists the first 20 of a body's thousand unknown fields, and says how many there were", async () => {
    const routeCase = routesWithBodies.find((candidate) => candidate.route === "/patients");
    if (!routeCase) throw new Error("no POST /patients among the service routes");
    const unknown = await send(routeCase, {
      body: (body) =>
        JSON.stringify({ ...body, ...Object.fromEntries(range(1000).map((i) => [`x${i}`, i])) }),
    });
    expect(unknown.response.status).toBe(400);
    expect(unknown.problem.detail).toBe("The request is invalid in 1000 places; errors lists the first 20.");
    expect(unknown.problem.errors).toEqual(
      range(20).map((i) => ({ field: `body.x${i}`, message: "is not a known field" })),
    );
    await unknown.wroteNothing();
  });

  it("names an unknown field that reads as a field name as sent, and any other as [name]: never an address, a number or pages of text back", async () => {
    const routeCase = routesWithBodies.find((candidate) => candidate.route === "/patients");
    if (!routeCase) throw new Error("no POST /patients among the service routes");
    const chosen = [
      "fristName",
      "ada.lovelace@example.org",
      "+14155550123",
      "x".repeat(5_000),
      "a b",
      "x-trace",
    ];
    const unknown = await send(routeCase, {
      body: (body) => JSON.stringify({ ...body, ...Object.fromEntries(chosen.map((name) => [name, 1])) }),
    });
    expect(unknown.response.status).toBe(400);
    expect(unknown.problem.errors).toEqual(
      ["fristName", "[name]", "[name]", "[name]", "[name]", "x-trace"].map((name) => ({
        field: `body.${name}`,
        message: "is not a known field",
      })),
    );
    const text = JSON.stringify(unknown.problem);
    expect(text.length).toBeLessThan(2_000);
    for (const name of ["lovelace", "4155550123"]) expect(text).not.toContain(name);
    await unknown.wroteNothing();

    const repeated = await send(routeCase, {
      body: (body) => `${JSON.stringify(body).slice(0, -1)},"ada@example.org":1,"ada@example.org":2}`,
    });
    expect(repeated.problem.errors).toEqual([{ field: "body.[name]", message: "is given more than once" }]);
    await repeated.wroteNothing();
  });

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

  it("DELETE /documents/{id}, whose body is optional, refuses a byte order mark alone: it is no empty body", async () => {
    const world = await careWorld(db);
    const patient = await caller("patient", loginOf("patient", world));
    const before = await stateDigest(db);
    const response = await app.request(`/documents/${world.own.documentId}`, {
      method: "DELETE",
      headers: patient.headers({ "Content-Type": "application/json" }),
      body: new Uint8Array([0xef, 0xbb, 0xbf]),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      errors: [{ field: "body", message: "starts with a byte order mark" }],
    });
    expect(await stateDigest(db)).toBe(before);
  });
});

/** The status a route answers its own request with, made by the first role that may make it (as `send`). */
function ownOutcome(routeCase: (typeof serviceRoutes)[number]): number {
  const role = roles.find((candidate) => routeCase.expected[candidate].own !== 403);
  if (!role) throw new Error(`no role may call ${routeCase.route}`);
  return routeCase.expected[role].own;
}

/** The media types of a route's successes as the published document declares them; a 204's is the API's JSON. */
async function answersOf(routeCase: (typeof serviceRoutes)[number]): Promise<string[]> {
  const document = (await (await app.request("/openapi.json")).json()) as {
    paths: Record<string, Record<string, { responses: Record<string, { content?: object }> }>>;
  };
  const operation = document.paths[routeCase.route]?.[routeCase.method.toLowerCase()];
  if (!operation) throw new Error(`${routeCase.method} ${routeCase.route} is not in the document`);
  const mediaTypes = Object.entries(operation.responses)
    .filter(([status]) => Number(status) < 300)
    .flatMap(([, response]) => Object.keys(response.content ?? {}));
  return mediaTypes.length > 0 ? mediaTypes : ["application/json"];
}

describe("an Accept header", () => {
  for (const routeCase of serviceRoutes) {
    it(`${routeCase.method} ${routeCase.route} refuses with a 406 one that admits none of what it answers in, doing nothing`, async () => {
      const answers = await answersOf(routeCase);
      for (const accept of [
        "text/html",
        "application/xml",
        `${answers.map((mediaType) => `${mediaType};q=0`).join(", ")}, */*`,
        // A weight above 1 is none (RFC 9110's qvalue is 0 to 1): the member admits nothing, as `q=abc`.
        answers.map((mediaType) => `${mediaType};q=2`).join(", "),
        // A refusal would be one; the answer is not.
        "application/problem+json",
      ]) {
        const refused = await send(routeCase, { ownBody: true, headers: { Accept: accept } });
        expect(refused.response.status, accept).toBe(406);
        expect(refused.response.headers.get("content-type"), accept).toBe("application/problem+json");
        expect(refused.problem, accept).toMatchObject({
          title: "Not Acceptable",
          detail: `The answer is ${answers.join(" or ")}, which the Accept header does not admit.`,
          errors: [{ field: "header.accept", message: `admits no ${answers.join(" or ")}` }],
        });
        await refused.wroteNothing();
      }
    });
  }

  for (const routeCase of serviceRoutes) {
    it(`${routeCase.method} ${routeCase.route} answers one that admits what it answers in, or none at all`, async () => {
      const [answer = ""] = await answersOf(routeCase);
      for (const accept of [
        undefined,
        "",
        "*/*",
        `${answer.split("/")[0]}/*`,
        `text/html, ${answer};q=0.1`,
      ]) {
        const taken = await send(routeCase, {
          ownBody: true,
          headers: accept === undefined ? {} : { Accept: accept },
        });
        expect(taken.response.status, `${accept}`).toBe(ownOutcome(routeCase));
      }
    });
  }

  it("must admit the format an export is asked for, of the two it answers in", async () => {
    const routeCase = serviceRoutes.find((candidate) => candidate.route === "/audit/events/export");
    if (!routeCase) throw new Error("no /audit/events/export route case");
    const csvAsNdjson = await send(routeCase, {
      query: "format=csv",
      headers: { Accept: "application/x-ndjson" },
    });
    expect(csvAsNdjson.response.status).toBe(406);
    expect(csvAsNdjson.problem.detail).toBe(
      "The answer is text/csv, which the Accept header does not admit.",
    );
    await csvAsNdjson.wroteNothing();
    const auditor = await caller("auditor");
    const csv = await app.request("/audit/events/export?format=csv", {
      headers: auditor.headers({ Accept: "text/csv" }),
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(await csv.text()).toMatch(/^eventId,position,/);
  });

  it("is read after the role: a role the route refuses is a 403, recorded as a violation, whatever it accepts", async () => {
    const patient = await caller("patient");
    const correlationId = randomUUID();
    const response = await app.request("/audit/events", {
      headers: patient.headers({ Accept: "text/html", "X-Correlation-Id": correlationId }),
    });
    expect(response.status).toBe(403);
    expect((await eventsOf(db, correlationId)).map((event) => event.type)).toEqual([
      "audit.compliance.violation",
    ]);
  });
});

describe("query parameters", () => {
  for (const routeCase of serviceRoutes) {
    it(`${routeCase.method} ${routeCase.route} refuses a parameter it does not take, naming it`, async () => {
      const unknown = await send(routeCase, { query: "includeDeleted=true&fields=ssn", ownBody: true });
      expect(unknown.response.status).toBe(400);
      expect(unknown.problem.errors).toEqual([
        { field: "query.includeDeleted", message: "is not a known parameter" },
        { field: "query.fields", message: "is not a known parameter" },
      ]);
      await unknown.wroteNothing();
    });
  }
});

describe("a query parameter given twice", () => {
  const routesWithQueries = serviceRoutes.filter((routeCase) => routeCase.route.startsWith("/audit/events"));
  it("is among the routes: the audit history takes query parameters", () => {
    expect(routesWithQueries.map((routeCase) => routeCase.route)).toContain("/audit/events");
  });
  for (const routeCase of routesWithQueries) {
    it(`${routeCase.method} ${routeCase.route} refuses it by name, whichever value comes first`, async () => {
      for (const query of ["limit=1&limit=1000", "limit=1000&limit=1", "format=csv&format=ndjson"]) {
        const repeated = await send(routeCase, { query });
        expect(repeated.response.status).toBe(400);
        expect(repeated.problem.errors).toEqual([
          { field: `query.${query.split("=")[0]}`, message: "is given more than once" },
        ]);
        await repeated.wroteNothing();
      }
    });
  }
});

describe("a query that cannot be read as it was meant", () => {
  for (const routeCase of serviceRoutes) {
    it(`${routeCase.method} ${routeCase.route} refuses a value that is not percent-encoded UTF-8, and a nameless one`, async () => {
      // Hono read `%FF` as the text "%FF" and dropped `=1`: an auditor got an empty page that looked like an answer.
      for (const [query, field] of [
        ["eventType=%FF", "query.eventType"],
        ["%ED%A0%80=1", "query.%ED%A0%80"],
      ] as const) {
        const sent = await send(routeCase, { query, ownBody: true });
        expect(sent.response.status, query).toBe(400);
        expect(sent.problem.errors, query).toEqual([{ field, message: "is not percent-encoded UTF-8" }]);
        await sent.wroteNothing();
      }
      const nameless = await send(routeCase, { query: "=1", ownBody: true });
      expect(nameless.response.status).toBe(400);
      expect(nameless.problem.errors).toEqual([
        { field: "query", message: "names a parameter without a name" },
      ]);
      await nameless.wroteNothing();
    });
  }
});

describe("a query value that is not percent-encoded UTF-8", () => {
  const history = serviceRoutes.find((routeCase) => routeCase.route === "/audit/events");
  it("is refused in every spelling of the mistake: a lone %, a bad escape, a surrogate, a byte of no character", async () => {
    if (!history) throw new Error("no /audit/events route case");
    for (const value of ["%", "%zz", "%FF", "%C3", "%ED%A0%80", "%F4%90%80%80", "a%2"]) {
      const sent = await send(history, { query: `eventType=${value}` });
      expect(sent.response.status, value).toBe(400);
      expect(sent.problem.errors, value).toEqual([
        { field: "query.eventType", message: "is not percent-encoded UTF-8" },
      ]);
    }
    // A well-formed escape is read as what it encodes.
    const escaped = await send(history, { query: "eventType=patient%2Ecreated" });
    expect(escaped.response.status).toBe(200);
  });
});

describe("a GET sent with a body", () => {
  for (const routeCase of serviceRoutes.filter((candidate) => candidate.method === "GET")) {
    it(`${routeCase.method} ${routeCase.route} refuses it, as the routes without a body do`, async () => {
      // Fetch gives a GET no body, so the route never saw it: only its Content-Length tells.
      const sent = await send(routeCase, { headers: { "Content-Length": "8" } });
      expect(sent.response.status).toBe(400);
      expect(sent.problem.errors).toEqual([
        { field: "body", message: "must be empty: this route takes no body" },
      ]);
      await sent.wroteNothing();
    });
  }
});

const range = (count: number) => Array.from({ length: count }, (_, i) => i);

// A refusal sends back no patient data, and a client may write anything where an id belongs: an e-mail address,
// a phone number or a name sent in place of the patient's id. The problem's `instance` (and a 404's or 405's
// detail) echoed the path as sent; now it shows the path as the route reads it, an id as the UUID it is and
// anything else in its place as the parameter, and a path no route serves not at all.
describe("a path with patient data where an id belongs", () => {
  const address = "ada.lovelace@example.org";
  const routesWithIds = serviceRoutes.filter((routeCase) => /\{\w*[iI]d\}/.test(routeCase.route));

  it("is among the routes: most take an id in their path", () => {
    expect(routesWithIds.length).toBeGreaterThan(15);
  });

  for (const routeCase of routesWithIds) {
    it(`${routeCase.method} ${routeCase.route} refuses it naming the parameter, never echoing it`, async () => {
      const parameter = /\{(\w+)\}/.exec(routeCase.route)?.[1] as string;
      const sent = await send(routeCase, {
        ownBody: true,
        path: (path) => path.replace(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/, address),
      });
      expect(sent.response.status).toBe(400);
      expect(sent.problem.errors?.map((error) => error.field)).toContain(`path.${parameter}`);
      expect(sent.problem.instance).toBe(routeCase.route);
      expect(sent.text).not.toContain("ada.lovelace");
      await sent.wroteNothing();
    });
  }

  const patientRoute = serviceRoutes.find(
    (routeCase) => routeCase.method === "GET" && routeCase.route === "/patients/{id}",
  ) as (typeof serviceRoutes)[number];

  it("is not shown when no route serves the path, nor when the path's route takes another method", async () => {
    const unknown = await send(patientRoute, { path: (path) => `${path}/${address}` });
    expect(unknown.response.status).toBe(404);
    expect(unknown.problem.instance).toBeUndefined();
    expect(unknown.problem.detail).toBe("No route serves GET on this path.");
    expect(unknown.text).not.toContain("ada.lovelace");
    await unknown.wroteNothing();

    const otherMethod = await send(
      { ...patientRoute, method: "PUT" },
      { path: (path) => path.replace(/[^/]+$/, address) },
    );
    expect(otherMethod.response.status).toBe(405);
    expect(otherMethod.problem.instance).toBe("/patients/{id}");
    expect(otherMethod.problem.detail).toBe("/patients/{id} takes DELETE, GET, HEAD, PATCH.");
    expect(otherMethod.text).not.toContain("ada.lovelace");
    await otherMethod.wroteNothing();
  });

  it("shows an id as the UUID it is, in lower case", async () => {
    const missing = randomUUID();
    const sent = await send(patientRoute, { path: () => `/patients/${missing.toUpperCase()}` });
    expect(sent.response.status).toBe(404);
    expect(sent.problem.instance).toBe(`/patients/${missing}`);
    await sent.wroteNothing();
  });
});

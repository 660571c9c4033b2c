// The platform documents itself: /openapi.json is a valid OpenAPI 3.1 document listing every route, each
// service route secured by a bearer token; /docs shows it; /asyncapi.json is an AsyncAPI 3 document that
// @asyncapi/parser accepts, of every topic the platform writes (the six and their dead-letter topics) and
// every event type; each event type's JSON Schema accepts the catalog's example of it, sealed as it travels.

import { randomBytes } from "node:crypto";
import { maxHeaderSize } from "node:http";
import { Parser } from "@asyncapi/parser";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import type { Database } from "../db/client.ts";
import { exampleData } from "../events/examples.ts";
import { deadLetterTopicName, eventTypes, isTopicName, topics } from "../events/index.ts";
import { KEY_BYTES } from "../phi/fieldCipher.ts";
import { sealPersonalFields } from "../phi/personalFields.ts";
import { REQUEST_TIMEOUT_MS } from "../process/httpServer.ts";
import { testPlatform } from "../test/tokens.ts";

// Building the app touches no database; only requests to service routes would.
const app = testPlatform({} as Database);
const PUBLIC_ROUTES = [
  "GET /health/live",
  "GET /health/ready",
  "GET /metrics",
  "GET /openapi.json",
  "GET /docs",
  "GET /docs/assets/swagger-ui-dist/{file}",
  // The auditors' console's files: it reads data through the documented auditor API only.
  "GET /console",
  // The address with a trailing slash: a redirect to /console.
  "GET /console/",
  "GET /console/settings.json",
  "GET /console/{file}",
  // jose's browser modules, with which the console's page checks an ID token (apps/console/routes.ts).
  "GET /console/jose/{path}{.+}",
];

type OpenApiDocument = {
  paths: Record<
    string,
    Record<
      string,
      {
        operationId?: string;
        security?: unknown;
        parameters?: Array<{ name: string; in: string; schema: { pattern?: string } }>;
        responses: Record<string, unknown>;
      }
    >
  >;
};

async function getJson<T>(path: string): Promise<T> {
  const response = await app.request(path);
  expect(response.status, path).toBe(200);
  return (await response.json()) as T;
}

describe("the OpenAPI document", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const validator = new Validator();
    const result = await validator.validate(await getJson<Record<string, unknown>>("/openapi.json"));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("lists every route the platform serves, each service route with bearer security and its 401 and 403", async () => {
    const document = await getJson<OpenApiDocument>("/openapi.json");
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const served = app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`)
      .filter(
        (route) =>
          !PUBLIC_ROUTES.includes(route) &&
          !route.includes("/events/schemas/") &&
          route !== "GET /asyncapi.json",
      );
    expect([...new Set(served)].sort()).toEqual(documented.sort());
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        expect(operation.security, `${method} ${path}`).toEqual([{ bearerAuth: [] }]);
        // With the HTTP server's own refusals, which any request may meet (too slow, headers too large, an
        // expectation it cannot meet).
        expect(Object.keys(operation.responses), `${method} ${path}`).toEqual(
          expect.arrayContaining(["401", "403", "408", "414", "417", "431"]),
        );
        // The header every route reads, so documented on every one.
        expect(operation.parameters, `${method} ${path}`).toContainEqual(
          expect.objectContaining({ name: "x-correlation-id", in: "header" }),
        );
      }
    }
  });

  it("names every operation with an operationId of its own, as client generators need", async () => {
    const document = await getJson<OpenApiDocument>("/openapi.json");
    const operations = Object.entries(document.paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, operation]) => ({
        what: `${method.toUpperCase()} ${path}`,
        ...operation,
      })),
    );
    for (const { what, operationId } of operations) expect(operationId, what).toMatch(/^[a-z][A-Za-z0-9]*$/);
    expect(new Set(operations.map(({ operationId }) => operationId)).size).toBe(operations.length);
    expect(operations.find(({ what }) => what === "GET /patients/{id}")?.operationId).toBe("getPatientsById");
    expect(operations.find(({ what }) => what === "POST /patients/{id}/erasure")?.operationId).toBe(
      "postPatientsByIdErasure",
    );
  });

  it("declares an ETag on a read's 304 exactly where its 200 carries one (not an export's lines and rows)", async () => {
    const document = await getJson<OpenApiDocument>("/openapi.json");
    const tagged = (response: unknown) =>
      Object.keys((response as { headers?: Record<string, unknown> }).headers ?? {}).includes("ETag");
    for (const [path, operations] of Object.entries(document.paths)) {
      const read = operations.get;
      if (!read) continue;
      expect(tagged(read.responses["304"]), `GET ${path}`).toBe(tagged(read.responses["200"]));
    }
    expect(tagged(document.paths["/audit/events/export"]?.get?.responses["304"])).toBe(false);
    expect(tagged(document.paths["/patients/{id}"]?.get?.responses["304"])).toBe(true);
  });

  it("declares the Idempotency-Key on every operation that changes something, with its answers, and on no other", async () => {
    const document = await getJson<OpenApiDocument>("/openapi.json");
    const changing = ["post", "put", "patch", "delete"];
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const what = `${method.toUpperCase()} ${path}`;
        const header = operation.parameters?.find(({ name }) => name === "idempotency-key");
        if (!changing.includes(method)) {
          expect(header, what).toBeUndefined();
          continue;
        }
        expect(header, what).toMatchObject({ in: "header", schema: { pattern: expect.any(String) } });
        // A key reused for another request, and a retry whose kept answer was erased with its patient.
        expect(Object.keys(operation.responses), what).toEqual(expect.arrayContaining(["400", "410", "422"]));
        const successes = Object.entries(operation.responses).filter(([status]) => status.startsWith("2"));
        expect(successes.length, what).toBeGreaterThan(0);
        for (const [status, response] of successes) {
          expect(
            (response as { headers?: Record<string, unknown> }).headers,
            `${what} ${status}`,
          ).toHaveProperty("Idempotent-Replayed");
        }
      }
    }
  });

  // The events it goes into are checked by their consumers as RFC 9562 UUIDs: a version 0 or an unknown
  // variant let through here would be committed and then refused by every consumer.
  it.each(["not-a-uuid", "12345678-1234-0234-8234-123456789abc", "12345678-1234-4234-c234-123456789abc"])(
    "answers the X-Correlation-Id %j with a 400 naming it, which carries a correlation id of its own",
    async (value) => {
      const response = await app.request("/patients/00000000-0000-4000-8000-000000000000", {
        headers: { "X-Correlation-Id": value },
      });
      expect(response.status).toBe(400);
      expect(response.headers.get("x-correlation-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(((await response.json()) as { errors: unknown }).errors).toEqual([
        { field: "header.x-correlation-id", message: "must be a UUID" },
      ]);
    },
  );

  it("publishes the X-Correlation-Id it accepts: an RFC 9562 UUID in any case, answered in lower case", async () => {
    const document = (await (await app.request("/openapi.json")).json()) as OpenApiDocument;
    const header = document.paths["/patients/{id}"]?.get?.parameters?.find(
      ({ name }) => name === "x-correlation-id",
    );
    const pattern = new RegExp(header?.schema.pattern ?? "(?!)");
    expect(pattern.test("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")).toBe(true);
    expect(pattern.test("12345678-1234-0234-8234-123456789abc")).toBe(false);
    expect(pattern.test("12345678-1234-4234-c234-123456789abc")).toBe(false);
    // (a request with no token is refused after the header is read: the answer still echoes it, lower-cased)
    const response = await app.request("/patients/00000000-0000-4000-8000-000000000000", {
      headers: { "X-Correlation-Id": "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11" },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("x-correlation-id")).toBe("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  });

  it("marks the fields a request may only repeat as on file (x-on-file): a notification's recipient", async () => {
    const marked: string[] = [];
    const walk = (node: unknown): void => {
      if (!node || typeof node !== "object") return;
      for (const [key, value] of Object.entries(node)) {
        if ((value as Record<string, unknown> | null)?.["x-on-file"] === true) marked.push(key);
        walk(value);
      }
    };
    walk(await getJson<unknown>("/openapi.json"));
    expect(new Set(marked)).toEqual(new Set(["to", "userId"]));
    expect(marked.length).toBeGreaterThanOrEqual(3);
  });

  it("says what the HTTP server refuses before any operation, with the limits it holds", async () => {
    const { info } = await getJson<{ info: { description: string } }>("/openapi.json");
    expect(info.description).toContain(
      `a request line over ${maxHeaderSize} bytes on its own (a URL too long) is a **414**, and a request line and headers over ${maxHeaderSize} bytes together (a long URL counts) a **431**`,
    );
    expect(info.description).toContain(`within ${REQUEST_TIMEOUT_MS / 1000} s of its first byte, a **408**`);
    expect(info.description).toMatch(/other than `100-continue` a \*\*417\*\*/);
  });

  it("holds requests, never answers, to the clock: no response schema says a value is not in the future", async () => {
    const document = await getJson<OpenApiDocument & { components: { schemas: Record<string, unknown> } }>(
      "/openapi.json",
    );
    const requestTimeRules: string[] = [];
    const visit = (node: unknown, where: string, followed: Set<string>) => {
      if (typeof node !== "object" || node === null) return;
      const schema = node as Record<string, unknown>;
      for (const rule of ["x-after", "x-not-after"]) {
        if (schema[rule] === "now" || schema[rule] === "today") requestTimeRules.push(`${where}: ${rule}`);
      }
      const ref = typeof schema.$ref === "string" ? schema.$ref.split("/").pop() : undefined;
      if (ref !== undefined && !followed.has(ref)) {
        visit(document.components.schemas[ref], `${where} -> ${ref}`, new Set([...followed, ref]));
      }
      for (const [key, value] of Object.entries(schema)) visit(value, `${where}/${key}`, followed);
    };
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          visit(
            (response as { content?: unknown }).content,
            `${method.toUpperCase()} ${path} ${status}`,
            new Set(),
          );
        }
      }
    }
    // A date of birth given today in UTC+14 is tomorrow for a client in UTC-10; a booking's time is past soon.
    expect(requestTimeRules).toEqual([]);
    // Requests still say it, where the API checks it.
    expect(JSON.stringify(document.paths["/patients"])).toContain('"x-not-after":"today"');
  });

  it("describes the export's two bodies as what they hold, not as the page's cursor they were declared with", async () => {
    const document = await getJson<{
      paths: Record<string, { get: { responses: Record<string, { content: Record<string, unknown> }> } }>;
    }>("/openapi.json");
    const content = document.paths["/audit/events/export"]?.get.responses["200"]?.content ?? {};
    expect(Object.keys(content).sort()).toEqual(["application/x-ndjson", "text/csv"]);
    const described = (type: string) => JSON.stringify(content[type]);
    expect(described("application/x-ndjson")).toContain('{\\"exportComplete\\":true');
    expect(described("text/csv")).toContain("# export complete: <n> events");
    for (const type of Object.keys(content)) expect(described(type), type).not.toMatch(/cursor|limit/);
  });

  it("is browsable at /docs, with Swagger UI served by the platform itself, not a CDN", async () => {
    const response = await app.request("/docs");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    const page = await response.text();
    expect(page).toContain("/openapi.json");
    const assets = [...page.matchAll(/(?:href|src)="([^"]+)"/g)].map((match) => match[1] as string);
    expect(assets).toEqual([
      "/docs/assets/swagger-ui-dist/swagger-ui.css",
      "/docs/assets/swagger-ui-dist/swagger-ui-bundle.js",
    ]);
    for (const asset of assets) {
      const served = await app.request(asset);
      expect(served.status, asset).toBe(200);
      expect((await served.arrayBuffer()).byteLength, asset).toBeGreaterThan(10_000);
    }
    for (const file of ["package.json", "__proto__", "constructor", "toString"]) {
      expect((await app.request(`/docs/assets/swagger-ui-dist/${file}`)).status, file).toBe(404);
    }
  });

  it("cannot be framed by another site, nor its files taken for another type: /docs shares the console's origin", async () => {
    // A page of another site framing /docs could have a user who pasted a token into it send requests they
    // did not mean to (clickjacking), on the origin where the auditors' console keeps its token.
    const response = await app.request("/docs");
    expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    for (const path of ["/docs", "/docs/assets/swagger-ui-dist/swagger-ui-bundle.js"]) {
      expect((await app.request(path)).headers.get("x-content-type-options"), path).toBe("nosniff");
    }
  });
});

describe("the event documentation", () => {
  it("is an AsyncAPI 3 document that @asyncapi/parser accepts, of every topic and every event type", async () => {
    const document = await getJson<Record<string, unknown>>("/asyncapi.json");
    const { document: parsed, diagnostics } = await new Parser().parse(JSON.stringify(document));
    const problems = diagnostics.filter((diagnostic) => diagnostic.severity <= 1);
    expect(problems.map((problem) => `${problem.path.join(".")}: ${problem.message}`)).toEqual([]);
    expect(parsed?.version()).toMatch(/^3\./);
    expect(
      parsed
        ?.channels()
        .all()
        .map((channel) => channel.address())
        .sort(),
    ).toEqual(topics.map((topic) => topic.name).sort());
    const deadLetters = topics.flatMap((topic) =>
      isTopicName(topic.name) ? [deadLetterTopicName(topic.name)] : [],
    );
    expect(
      parsed
        ?.components()
        .messages()
        .all()
        .map((message) => message.id())
        .sort(),
    ).toEqual([...eventTypes, ...deadLetters].sort());
  }, 60_000); // @asyncapi/parser compiles its schemas on first use: seconds of CPU on a busy 2-core machine

  // A client generated from the document connects to its servers: they are the brokers the platform writes to
  // (the stack's, on KAFKA_PORT or KAFKA_BROKERS), where it always named localhost:9092.
  it("names as its servers the brokers the platform writes to, over TLS as kafka-secure", async () => {
    const servers = async (platform: ReturnType<typeof testPlatform>) =>
      ((await (await platform.request("/asyncapi.json")).json()) as { servers: Record<string, unknown> })
        .servers;
    expect(
      await servers(testPlatform({} as Database, { kafkaBrokers: ["localhost:9192"], kafkaTls: false })),
    ).toEqual({
      kafka: expect.objectContaining({ host: "localhost:9192", protocol: "kafka" }),
    });
    const cluster = testPlatform({} as Database, {
      kafkaBrokers: ["kafka-a.internal:9093", "kafka-b.internal:9093"],
      kafkaTls: true,
    });
    expect(await servers(cluster)).toEqual({
      "kafka-1": expect.objectContaining({ host: "kafka-a.internal:9093", protocol: "kafka-secure" }),
      "kafka-2": expect.objectContaining({ host: "kafka-b.internal:9093", protocol: "kafka-secure" }),
    });
    const { diagnostics } = await new Parser().parse(
      JSON.stringify(await (await cluster.request("/asyncapi.json")).json()),
    );
    expect(diagnostics.filter((diagnostic) => diagnostic.severity <= 1)).toEqual([]);
  }, 60_000);

  it("gives each event type a JSON Schema that accepts the catalog's example, sealed, and refuses an unknown field", async () => {
    const ajv = new Ajv({ strict: false, validateFormats: false });
    const patientKey = randomBytes(KEY_BYTES);
    for (const type of eventTypes) {
      const schema = await getJson<object>(`/events/schemas/${type}.json`);
      const validate = ajv.compile(schema);
      const envelope = {
        eventId: "0b8a2f3c-1d4e-4f5a-9b6c-7d8e9f0a1b2c",
        eventType: type,
        timestamp: "2024-01-15T10:30:00Z",
        source: "patient-service",
        version: "1.0",
        data: sealPersonalFields(
          type,
          "0b8a2f3c-1d4e-4f5a-9b6c-7d8e9f0a1b2c",
          exampleData[type] as Record<string, unknown>,
          patientKey,
        ),
        metadata: {
          correlationId: "1c9b3e4d-2f5a-4b6c-8d7e-9f0a1b2c3d4e",
          userId: null,
          ipAddress: null,
          userAgent: null,
          sessionId: null,
        },
      };
      expect(validate(envelope), `${type}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(validate({ ...envelope, data: { ...envelope.data, favouriteColour: "blue" } }), type).toBe(
        false,
      );
    }
    // Without a token: any name under the path is the public route's, a 404 where it is no event type's schema.
    for (const name of [
      "patient.exploded.json",
      "PATIENT.CREATED.json",
      "%ff.json",
      "a%2fb.json",
      "patient.created",
    ]) {
      const response = await app.request(`/events/schemas/${name}`);
      expect(response.status, name).toBe(404);
      const problem = (await response.json()) as { detail: string; instance?: string };
      expect(problem.detail, name).not.toContain(name.slice(0, 7));
      // The name is the client's text, which may be anything (a patient's name sent by mistake): not sent back.
      expect(problem.instance, name).toBeUndefined();
    }
  });
});

// The published contract is what the platform does, tested as a client team would, from /openapi.json alone:
// for every operation and every role, requests the document declares valid (generated from its schemas,
// seeded) are answered only with statuses the document declares for them, never a 400/413/415 and never a 5xx,
// and every answer matches the schema declared for its status; a role the operation does not list (x-roles)
// gets a 403. Then each body field broken in turn, an unknown field and a malformed path id get a declared
// 4xx and change nothing. The only knowledge from outside the document is which ids exist (a seeded world).
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { type CareWorld, careWorld } from "../test/careWorld.ts";
import { documentValidator, documentValue, type Schema } from "../test/documentValues.ts";
import { testDatabase } from "../test/fixtures.ts";
import { loginOf, stateDigest } from "../test/platformState.ts";
import { caller, testPlatform } from "../test/tokens.ts";
import type { Role } from "./http/auth.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

/** Fixed, so that every run sends the same requests; CONTRACT_SEED and CONTRACT_RUNS explore further. */
const SEED = Number(process.env.CONTRACT_SEED ?? 20261201);
const RUNS = Number(process.env.CONTRACT_RUNS ?? 3);
const ROLES: Role[] = ["patient", "provider", "admin", "auditor", "service"];
/** Answers that say a valid-by-document request was refused for its form. */
const REFUSED_AS_MALFORMED = new Set([400, 413, 415]);

interface Operation {
  parameters?: Array<{ name: string; in: string; required?: boolean; schema: Schema }>;
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<
    string,
    { headers?: Record<string, unknown>; content?: Record<string, { schema: Schema }> }
  >;
  "x-roles": Role[];
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
}

const document = (await (await app.request("/openapi.json")).json()) as OpenApi;
const validate = documentValidator(document);
const deref = (ref: string) =>
  (document.components?.schemas?.[ref.replace("#/components/schemas/", "")] ?? {}) as Schema;

type Target = "own" | "other" | "unknown";

/** The ids a request names, by the name the document gives them: the world's, or one that exists nowhere. */
function idFor(name: string, route: string, world: CareWorld, target: Target): string | undefined {
  const side = world[target === "unknown" ? "own" : target];
  const resource = name === "id" ? route.split("/")[route.startsWith("/ai/") ? 2 : 1] : name;
  const ids: Record<string, string> = {
    patients: side.patientId,
    patientId: side.patientId,
    providers: side.providerId,
    providerId: side.providerId,
    appointments: side.appointmentId,
    appointmentId: side.appointmentId,
    documents: side.documentId,
    documentId: side.documentId,
    models: world.modelId,
    modelId: world.modelId,
  };
  const id = ids[resource as string];
  return id !== undefined && target === "unknown" ? randomUUID() : id;
}

/** The rules between query parameters that the document states: `x-requires`, `x-excludes`, `x-later-than`. */
function queryRulesKept(query: Operation["parameters"] & object, values: Record<string, unknown>): boolean {
  return query.every(({ name, schema }) => {
    if (!(name in values)) return true;
    const requires = schema["x-requires"] as string | undefined;
    const excludes = schema["x-excludes"] as string | undefined;
    const earlier = values[schema["x-later-than"] as string];
    return (
      (requires === undefined || requires in values) &&
      (excludes === undefined || !(excludes in values)) &&
      (typeof earlier !== "string" || Date.parse(String(values[name])) > Date.parse(earlier))
    );
  });
}

interface DrawnRequest {
  path: string;
  body?: unknown;
  query: Record<string, string>;
}

/** A request the document declares valid: parameters and body from its schemas, ids from the world. */
function requestArbitrary(route: string, operation: Operation, world: CareWorld): fc.Arbitrary<DrawnRequest> {
  const bodySchema = operation.requestBody?.content["application/json"]?.schema;
  // A value only the API hands out (a cursor, a position) is not the client's to make up.
  const query = (operation.parameters ?? []).filter(
    (parameter) => parameter.in === "query" && parameter.schema["x-from-response"] === undefined,
  );
  const body = bodySchema
    ? documentValue(bodySchema, deref).filter((value) => validate(bodySchema, value).length === 0)
    : fc.constant(undefined);
  const queryValues = fc.record(
    Object.fromEntries(query.map((parameter) => [parameter.name, documentValue(parameter.schema, deref)])),
    { requiredKeys: query.filter((parameter) => parameter.required).map((parameter) => parameter.name) },
  );
  return fc
    .tuple(fc.constantFrom<Target>("own", "own", "other", "unknown"), body, queryValues)
    .filter(([, , values]) => queryRulesKept(query, values))
    .filter(([, , values]) =>
      query.every(
        (parameter) =>
          !(parameter.name in values) || validate(parameter.schema, values[parameter.name]).length === 0,
      ),
    )
    .map(([target, drawnBody, values]) => {
      const path = route.replace(
        /\{(\w+)\}/g,
        (_, name: string) => idFor(name, route, world, target) ?? randomUUID(),
      );
      const withIds =
        drawnBody && typeof drawnBody === "object" && !Array.isArray(drawnBody)
          ? Object.fromEntries(
              Object.entries(drawnBody).map(([key, value]) => [
                key,
                typeof value === "string" && key !== "userId"
                  ? (idFor(key, route, world, target) ?? value)
                  : value,
              ]),
            )
          : drawnBody;
      return {
        path,
        body: withIds,
        query: Object.fromEntries(Object.entries(values).map(([key, value]) => [key, String(value)])),
      };
    });
}

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
  contentType: string;
}

async function send(role: Role, world: CareWorld, method: string, request: DrawnRequest): Promise<Answer> {
  const user = await caller(role, loginOf(role, world));
  const search = new URLSearchParams(request.query).toString();
  const response = await app.request(`${request.path}${search ? `?${search}` : ""}`, {
    method,
    headers: user.headers(request.body === undefined ? {} : { "Content-Type": "application/json" }),
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
  });
  const contentType = (response.headers.get("content-type") ?? "").split(";")[0] as string;
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    contentType,
    body: contentType.endsWith("json") && text ? JSON.parse(text) : text,
  };
}

/** What the document says about an answer: is its status declared, its body and headers as declared? */
function offContract(operation: Operation, answer: Answer): string[] {
  const declared = operation.responses[String(answer.status)];
  if (!declared) return [`status ${answer.status} is not declared`];
  const problems: string[] = [];
  const content = declared.content;
  if (content) {
    const schema = content[answer.contentType]?.schema;
    if (!schema) problems.push(`content type ${answer.contentType} is not declared for ${answer.status}`);
    else problems.push(...validate(schema, answer.body));
  }
  for (const header of Object.keys(declared.headers ?? {})) {
    const optional = header === "Idempotent-Replayed";
    if (!optional && !answer.headers.has(header)) problems.push(`header ${header} is missing`);
  }
  return problems;
}

const operations = Object.entries(document.paths).flatMap(([route, methods]) =>
  Object.entries(methods).map(([method, operation]) => ({ method: method.toUpperCase(), route, operation })),
);

describe("requests the document declares valid, for every operation and role", () => {
  it("covers every operation of the document, each naming its roles", () => {
    expect(operations.length).toBeGreaterThanOrEqual(30);
    for (const { method, route, operation } of operations) {
      expect(operation["x-roles"]?.length, `${method} ${route}`).toBeGreaterThan(0);
    }
  });

  for (const { method, route, operation } of operations) {
    it(`${method} ${route}: declared statuses only, on their schemas; 403 for a role not in x-roles`, async () => {
      for (const role of ROLES) {
        await fc.assert(
          fc.asyncProperty(fc.integer(), fc.context(), async (requestSeed, log) => {
            // A fresh world for each request: an earlier success (a deletion, a cancellation) changes nothing after it.
            const world = await careWorld(db);
            const [request] = fc.sample(requestArbitrary(route, operation, world), {
              seed: requestSeed,
              numRuns: 1,
            });
            if (!request) throw new Error("no request drawn");
            log.log(JSON.stringify(request));
            const answer = await send(role, world, method, request);
            const what = `${role} ${method} ${request.path} ${JSON.stringify(request.body)}: ${answer.status} ${JSON.stringify(answer.body)}`;
            expect(answer.status, what).toBeLessThan(500);
            expect(REFUSED_AS_MALFORMED.has(answer.status), `refused a valid request: ${what}`).toBe(false);
            if (!operation["x-roles"].includes(role)) expect(answer.status, what).toBe(403);
            expect(offContract(operation, answer), what).toEqual([]);
          }),
          { seed: SEED + ROLES.indexOf(role), numRuns: RUNS, endOnFailure: true },
        );
      }
    });
  }
});

/** Each top-level body field given a value of another JSON type, one unknown field, each required field left out. */
function brokenBodies(
  schema: Schema,
  valid: Record<string, unknown>,
): Array<{ change: string; body: unknown }> {
  const wrongType = (property: Schema) => ([property.type].flat().includes("string") ? 12345 : "not-a-value");
  return [
    ...Object.entries(schema.properties ?? {}).map(([key, property]) => ({
      change: `${key} of another type`,
      body: { ...valid, [key]: wrongType(property) },
    })),
    { change: "an unknown field", body: { ...valid, favouriteColour: "blue" } },
    ...(schema.required ?? []).map((key) => ({
      change: `${key} left out`,
      body: Object.fromEntries(Object.entries(valid).filter(([field]) => field !== key)),
    })),
  ];
}

describe("requests that break the document, one constraint at a time", () => {
  for (const { method, route, operation } of operations) {
    const role = (["admin", "service", "auditor", "provider", "patient"] as Role[]).find((candidate) =>
      operation["x-roles"].includes(candidate),
    ) as Role;
    const bodySchema = operation.requestBody?.content["application/json"]?.schema;
    if (!bodySchema && !route.includes("{")) continue;

    it(`${method} ${route}: a declared 4xx that writes nothing`, async () => {
      const world = await careWorld(db);
      const [valid] = fc.sample(requestArbitrary(route, operation, world), { seed: SEED, numRuns: 1 });
      if (!valid) throw new Error("no request drawn");
      const broken = [
        ...(route.includes("{")
          ? [{ change: "a malformed path id", ...valid, path: route.replace(/\{\w+\}/g, "not-a-uuid") }]
          : []),
        ...(bodySchema
          ? brokenBodies(bodySchema, valid.body as Record<string, unknown>).map((b) => ({ ...valid, ...b }))
          : []),
      ];
      for (const request of broken) {
        const before = await stateDigest(db);
        const answer = await send(role, world, method, request);
        const what = `${method} ${request.path} with ${request.change}: ${answer.status} ${JSON.stringify(answer.body)}`;
        expect(answer.status, what).toBe(400);
        expect(offContract(operation, answer), what).toEqual([]);
        expect(await stateDigest(db), `${what}: changed the state`).toBe(before);
      }
    });
  }
});

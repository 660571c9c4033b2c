// The published contract is what the platform does, tested as a client team would, from /openapi.json alone:
// for every operation and every role, requests the document declares valid (generated from its schemas,
// seeded) are answered only with statuses the document declares for them, never a 400/413/415 and never a 5xx,
// and every answer matches the schema declared for its status; a role the operation does not list (x-roles)
// gets a 403; an erased patient's id gets a declared status (410 where declared); values the document says
// come from a response (`x-from-response`: a cursor, a position) are taken from that response. Every operation
// that changes something (POST, PUT, PATCH, DELETE) declares an Idempotency-Key: a retry of a success with it
// is the same answer, marked Idempotent-Replayed, and changes no table; the key with another request is a 422
// that writes nothing. Then every
// constraint of every body and query field, nested ones too, broken in turn (type, required, unknown field,
// length, pattern, a pattern it must not match, format, enum, bounds, items, minProperties, cross-field
// rules), and a malformed path id, get a declared 4xx and write nothing: the service tables, the outbox's row
// count and its last position are as before. The only knowledge from outside the document is which ids exist
// (a seeded world).
// CONTRACT_SEED and CONTRACT_RUNS choose the requests; the counts are printed at the end.
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { eq, sql } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { aiModels, documents } from "../db/schema.ts";
import { type CareSide, type CareWorld, careWorld } from "../test/careWorld.ts";
import {
  asRead,
  documentValidator,
  documentValue,
  generatorRegex,
  type Schema,
  valueAt,
} from "../test/documentValues.ts";
import { newPatientBody, testDatabase } from "../test/fixtures.ts";
import { loginOf, stateDigest } from "../test/platformState.ts";
import { caller, testPlatform } from "../test/tokens.ts";
import type { Role } from "./http/auth.ts";
import { ERASED_ANSWER_RETRIED } from "./http/openapi.ts";

const db = testDatabase();
const app = testPlatform(db);

/** Fixed, so that every run sends the same requests; CONTRACT_SEED and CONTRACT_RUNS explore further. */
const SEED = Number(process.env.CONTRACT_SEED ?? 20261201);
const RUNS = Number(process.env.CONTRACT_RUNS ?? 3);
const ROLES: Role[] = ["patient", "provider", "admin", "auditor", "service"];
/** Requests sent, by operation and role, for the table printed at the end. */
const counts = new Map<string, { valid: Record<string, number>; broken: number; statuses: Set<number> }>();
const counted = (operation: string) => {
  let entry = counts.get(operation);
  if (!entry) {
    entry = { valid: {}, broken: 0, statuses: new Set() };
    counts.set(operation, entry);
  }
  return entry;
};
afterAll(async () => {
  const rows = [...counts].map(([operation, { valid, broken, statuses }]) => ({
    operation,
    ...Object.fromEntries(ROLES.map((role) => [role, valid[role] ?? 0])),
    broken,
    statuses: [...statuses].sort().join(" "),
  }));
  const sum = (pick: (row: (typeof rows)[number]) => number) =>
    rows.reduce((total, row) => total + pick(row), 0);
  console.table(rows);
  console.log(
    `contract: seed ${SEED}, ${RUNS} runs per operation and role; ${rows.length} operations, ${ROLES.length} roles; ` +
      `${sum((row) => ROLES.reduce((total, role) => total + Number(row[role as keyof typeof row] ?? 0), 0))} valid requests, ` +
      `${sum((row) => row.broken)} broken requests`,
  );
  await db.$client.end();
});
/** Answers that say a valid-by-document request was refused for its form. */
const REFUSED_AS_MALFORMED = new Set([400, 413, 415]);

interface Operation {
  parameters?: Array<{ name: string; in: string; required?: boolean; schema: Schema }>;
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<
    string,
    { description: string; headers?: Record<string, unknown>; content?: Record<string, { schema: Schema }> }
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

type Target = "own" | "other" | "unknown" | "erased";

/**
 * The body fields marked `x-on-file`, in any variant of the schema: left out, the record's own value is used;
 * any value drawn is almost surely another, a 422.
 */
function onFileFields(schema: Schema | undefined, names = new Set<string>()): Set<string> {
  if (!schema) return names;
  if (schema.$ref) return onFileFields(deref(schema.$ref), names);
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if (property["x-on-file"] === true) names.add(name);
  }
  for (const variant of [...(schema.oneOf ?? []), ...(schema.anyOf ?? [])]) onFileFields(variant, names);
  return names;
}

/** The body without its `x-on-file` fields. */
function withoutOnFile(body: unknown, onFile: ReadonlySet<string>): unknown {
  if (!body || typeof body !== "object" || Array.isArray(body)) return body;
  return Object.fromEntries(Object.entries(body).filter(([key]) => !onFile.has(key)));
}

/** A world with an erased patient besides: signed up and erased through the API, as a client would. */
type ContractWorld = CareWorld & { erased: Pick<CareSide, "patientId"> };

async function erasedPatient(): Promise<Pick<CareSide, "patientId">> {
  const admin = await caller("admin");
  const headers = admin.headers({ "Content-Type": "application/json" });
  const body = newPatientBody();
  const created = await app.request("/patients", { method: "POST", headers, body: JSON.stringify(body) });
  if (created.status !== 201) throw new Error(`POST /patients answered ${created.status}`);
  const { id } = (await created.json()) as { id: string };
  const erased = await app.request(`/patients/${id}/erasure`, { method: "POST", headers: admin.headers() });
  if (erased.status !== 200) throw new Error(`POST /patients/${id}/erasure answered ${erased.status}`);
  return { patientId: id };
}

/** The ids a request names, by the name the document gives them: the world's, or one that exists nowhere. */
function idFor(name: string, route: string, world: ContractWorld, target: Target): string | undefined {
  if (target === "erased") {
    const resource = name === "id" ? route.split("/")[1] : name;
    if (resource === "patients" || resource === "patientId") return world.erased.patientId;
    return idFor(name, route, world, "own");
  }
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
    const lower = values[schema["x-not-below"] as string];
    return (
      (requires === undefined || requires in values) &&
      (excludes === undefined || !(excludes in values)) &&
      (typeof earlier !== "string" || Date.parse(String(values[name])) > Date.parse(earlier)) &&
      (typeof lower !== "string" || BigInt(String(values[name])) >= BigInt(lower))
    );
  });
}

interface DrawnRequest {
  path: string;
  body?: unknown;
  query: Record<string, string>;
}

/** The query of the requests whose responses hand out `x-from-response` values. */
const RESPONSE_SOURCE_QUERY: Record<string, string> = { limit: "20" };

/**
 * The values a response hands out for a parameter marked `x-from-response: "GET /path#/pointer"` (`*` for
 * each item of an array): a value only the API makes (a cursor, a position) is not the client's to invent.
 */
async function valuesFromResponses(operation: Operation): Promise<Record<string, string[]>> {
  const sources = (operation.parameters ?? []).filter((parameter) => parameter.schema["x-from-response"]);
  const values: Record<string, string[]> = {};
  for (const parameter of sources) {
    const [source, pointer = ""] = String(parameter.schema["x-from-response"]).split("#");
    const [method, path] = (source as string).split(" ") as [string, string];
    const role = document.paths[path]?.[method.toLowerCase()]?.["x-roles"][0];
    if (!role) throw new Error(`x-from-response names ${source}, which the document does not have`);
    const response = await app.request(`${path}?${new URLSearchParams(RESPONSE_SOURCE_QUERY)}`, {
      method,
      headers: (await caller(role)).headers(),
    });
    const found = valuesAt(await response.json(), pointer.split("/").slice(1)).map(String);
    if (found.length === 0) throw new Error(`${source} gave no value at ${pointer}`);
    values[parameter.name] = found;
  }
  return values;
}

function valuesAt(value: unknown, [step, ...rest]: string[]): unknown[] {
  if (step === undefined) return value === undefined || value === null ? [] : [value];
  if (step === "*") return Array.isArray(value) ? value.flatMap((item) => valuesAt(item, rest)) : [];
  return value && typeof value === "object" ? valuesAt((value as Record<string, unknown>)[step], rest) : [];
}

/** Whose records a request names: mostly the caller's own, sometimes another's, one that is nowhere, or erased. */
const ANY_TARGET = fc.constantFrom<Target>("own", "own", "other", "unknown", "erased");

/** A request the document declares valid: parameters and body from its schemas, ids from the world. */
function requestArbitrary(
  route: string,
  operation: Operation,
  world: ContractWorld,
  fromResponses: Record<string, string[]> = {},
  targets: fc.Arbitrary<Target> = ANY_TARGET,
): fc.Arbitrary<DrawnRequest> {
  const bodySchema = operation.requestBody?.content["application/json"]?.schema;
  const query = (operation.parameters ?? []).filter(
    (parameter) =>
      parameter.in === "query" &&
      (parameter.schema["x-from-response"] === undefined || fromResponses[parameter.name] !== undefined),
  );
  const body = bodySchema
    ? documentValue(bodySchema, deref).filter((value) => validate(bodySchema, value).length === 0)
    : fc.constant(undefined);
  const queryValues = fc.record(
    Object.fromEntries(
      query.map((parameter) => {
        const handedOut = fromResponses[parameter.name];
        return [
          parameter.name,
          handedOut ? fc.constantFrom(...handedOut) : documentValue(parameter.schema, deref),
        ];
      }),
    ),
    { requiredKeys: query.filter((parameter) => parameter.required).map((parameter) => parameter.name) },
  );
  return fc
    .tuple(targets, body, queryValues)
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
        (_, name: string) =>
          idFor(name, route, world, target) ??
          (target === "unknown" ? undefined : fromResponses[name]?.[0]) ??
          randomUUID(),
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
      // A value marked `x-same-query` (a cursor) goes only with the query of the request that handed it out:
      // the other parameters drawn are left out, but for those that request had (a page size may change).
      const sameQuery = query.find(
        (parameter) => parameter.schema["x-same-query"] === true && parameter.name in values,
      );
      const kept = Object.entries(values).filter(
        ([key]) => !sameQuery || key === sameQuery.name || key in RESPONSE_SOURCE_QUERY,
      );
      return {
        path,
        body: withIds,
        query: Object.fromEntries(kept.map(([key, value]) => [key, String(value)])),
      };
    });
}

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
  contentType: string;
}

async function send(
  role: Role,
  world: ContractWorld,
  method: string,
  request: DrawnRequest,
  options: { headers?: Record<string, string>; login?: string } = {},
): Promise<Answer> {
  // A patient registering is a login without a record yet (one live record per login).
  const registers = method.toUpperCase() === "POST" && request.path === "/patients";
  const user = await caller(role, options.login ?? loginOf(role, world, { registers }));
  const search = new URLSearchParams(request.query).toString();
  const response = await app.request(`${request.path}${search ? `?${search}` : ""}`, {
    method,
    headers: user.headers({
      ...(request.body === undefined ? {} : { "Content-Type": "application/json" }),
      ...options.headers,
    }),
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
  });
  const contentType = (response.headers.get("content-type") ?? "").split(";")[0] as string;
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    contentType,
    // JSON and problem+json are one document; NDJSON (an export) is lines of text, as its schema says.
    body: /(^application\/|\+)json$/.test(contentType) && text ? JSON.parse(text) : text,
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
      const erased = await erasedPatient();
      const fromResponses = await valuesFromResponses(operation);
      const count = counted(`${method} ${route}`);
      for (const role of ROLES) {
        await fc.assert(
          fc.asyncProperty(fc.integer(), fc.context(), async (requestSeed, log) => {
            // A fresh world for each request: an earlier success (a deletion, a cancellation) changes nothing
            // after it. The erased patient stays erased whatever a request does.
            const world = { ...(await careWorld(db)), erased };
            const [request] = fc.sample(requestArbitrary(route, operation, world, fromResponses), {
              seed: requestSeed,
              numRuns: 1,
            });
            if (!request) throw new Error("no request drawn");
            log.log(JSON.stringify(request));
            const answer = await send(role, world, method, request);
            count.valid[role] = (count.valid[role] ?? 0) + 1;
            count.statuses.add(answer.status);
            const what = `${role} ${method} ${request.path}?${new URLSearchParams(request.query)} ${JSON.stringify(request.body)}: ${answer.status} ${JSON.stringify(answer.body)}`;
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

describe("requests naming an erased patient", () => {
  const namingPatient = operations.filter(
    ({ route, operation }) =>
      route.startsWith("/patients/{") ||
      "patientId" in (operation.requestBody?.content["application/json"]?.schema.properties ?? {}),
  );
  for (const { method, route, operation } of namingPatient) {
    const roles = operation["x-roles"].filter((role) => role !== "patient");
    // A 410 that says the patient is erased; not the one of a retry whose kept answer was erased with them.
    const gone =
      operation.responses["410"]?.description !== ERASED_ANSWER_RETRIED && !!operation.responses["410"];
    it(`${method} ${route}: a declared status, on its schema${gone ? ", 410" : ""}, nothing 5xx`, async () => {
      const world = { ...(await careWorld(db)), erased: await erasedPatient() };
      const count = counted(`${method} ${route}`);
      for (const role of roles) {
        // Drawn naming the erased patient, not left to the one draw in five that does: 20 draws of a seed may
        // have none (CONTRACT_SEED=28 had none); a body whose patientId is optional may still leave it out.
        const drawn = fc.sample(requestArbitrary(route, operation, world, {}, fc.constant("erased")), {
          seed: SEED,
          numRuns: 20,
        });
        const request = drawn.find(
          (candidate) =>
            candidate.path.includes(world.erased.patientId) ||
            JSON.stringify(candidate.body ?? {}).includes(world.erased.patientId),
        );
        if (!request) throw new Error(`no request naming the erased patient drawn for ${method} ${route}`);
        const answer = await send(role, world, method, request);
        count.valid[role] = (count.valid[role] ?? 0) + 1;
        count.statuses.add(answer.status);
        const what = `${role} ${method} ${request.path} ${JSON.stringify(request.body)}: ${answer.status} ${JSON.stringify(answer.body)}`;
        expect(answer.status, what).toBeLessThan(500);
        expect(offContract(operation, answer), what).toEqual([]);
        if (gone) expect(answer.status, what).toBe(410);
      }
    });
  }
});

/**
 * A seeded world whose document was uploaded and whose model trained at the epoch: a result or a measurement
 * is refused (409) as dated before them, and the document lets a client send any instant since 1970, so that
 * a request drawn valid can succeed, which a retry needs (a failure is not kept).
 */
async function longStandingWorld(): Promise<CareWorld> {
  const world = await careWorld(db);
  const epoch = new Date(0);
  await db.update(documents).set({ createdAt: epoch }).where(eq(documents.id, world.own.documentId));
  await db.update(aiModels).set({ trainedAt: epoch }).where(eq(aiModels.id, world.modelId));
  return world;
}

describe("retries with an Idempotency-Key, for every operation that declares it", () => {
  const takingKey = operations.filter(({ operation }) =>
    operation.parameters?.some(({ name, in: where }) => name === "idempotency-key" && where === "header"),
  );

  it("covers every operation that changes something", () => {
    const changing = operations.filter(({ method }) => ["POST", "PUT", "PATCH", "DELETE"].includes(method));
    expect(takingKey.map(({ method, route }) => `${method} ${route}`)).toEqual(
      changing.map(({ method, route }) => `${method} ${route}`),
    );
  });

  for (const { method, route, operation } of takingKey) {
    const role = (["admin", "service", "provider", "patient"] as Role[]).find((candidate) =>
      operation["x-roles"].includes(candidate),
    ) as Role;
    it(`${method} ${route}: a retry is the first answer again (Idempotent-Replayed), changing no table; another request with the key a 422 that writes nothing`, async () => {
      const world = { ...(await longStandingWorld()), erased: await erasedPatient() };
      const count = counted(`${method} ${route}`);
      // The world's own records, so that a request drawn valid succeeds: a failure is not kept, and replays nothing.
      // Fields that must repeat what is on file are left out, as the document says a client may.
      const onFile = onFileFields(operation.requestBody?.content["application/json"]?.schema);
      const drawn = fc
        .sample(requestArbitrary(route, operation, world), { seed: SEED, numRuns: 30 })
        .map((request) => ({
          ...request,
          body: withoutOnFile(request.body, onFile),
          path: route.replace(
            /\{(\w+)\}/g,
            (_, name: string) => idFor(name, route, world, "own") ?? randomUUID(),
          ),
        }));
      // One login throughout: keys are the caller's own.
      const login = loginOf(role, world, { registers: method === "POST" && route === "/patients" });
      let first: { request: DrawnRequest; answer: Answer; key: string } | undefined;
      for (const request of drawn) {
        const key = randomUUID();
        const answer = await send(role, world, method, request, {
          headers: { "Idempotency-Key": key },
          login,
        });
        count.valid[role] = (count.valid[role] ?? 0) + 1;
        count.statuses.add(answer.status);
        if (answer.status < 300) {
          first = { request, answer, key };
          break;
        }
      }
      if (!first) throw new Error(`no request drawn for ${method} ${route} succeeded as ${role}`);
      const what = `${role} ${method} ${first.request.path} ${JSON.stringify(first.request.body)}`;

      const tables = await stateDigest(db);
      const retry = await send(role, world, method, first.request, {
        headers: { "Idempotency-Key": first.key },
        login,
      });
      expect(retry.status, what).toBe(first.answer.status);
      expect(retry.headers.get("idempotent-replayed"), what).toBe("true");
      expect(retry.body, what).toEqual(first.answer.body);
      expect(offContract(operation, retry), what).toEqual([]);
      expect(await stateDigest(db), `${what}: the retry changed a table`).toBe(tables);

      // The same path asked something else (another body drawn, or another record when there is no body):
      // another body as the service reads it, a field left out being its declared default.
      const bodySchema = operation.requestBody?.content["application/json"]?.schema;
      const read = (body: unknown) =>
        bodySchema && body !== undefined
          ? asRead(bodySchema, JSON.parse(JSON.stringify(body)), deref, validate)
          : body;
      const other = drawn.find(
        (request) => !isDeepStrictEqual(read(request.body), read(first.request.body)),
      ) ?? { ...first.request, path: route.replace(/\{(\w+)\}/g, () => randomUUID()) };
      const before = await writtenState();
      const reused = await send(role, world, method, other, {
        headers: { "Idempotency-Key": first.key },
        login,
      });
      expect(reused.status, `${what}, then ${JSON.stringify(other)}`).toBe(422);
      expect(offContract(operation, reused), what).toEqual([]);
      expect(await writtenState(), `${what}: the reused key wrote something`).toBe(before);
    });
  }
});

type Json = unknown;
interface Broken {
  change: string;
  body?: Json;
  query?: Record<string, string>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const FORMAT_BREAKERS: Record<string, string> = {
  uuid: "not-a-uuid",
  email: "not-an-e-mail",
  date: "2024-13-45",
  "date-time": "yesterday at noon",
  uri: "not a uri",
  ipv4: "999.1.1.1",
};

/** A copy of `value` with `at` (a path of keys) set to `to`, or removed when `to` is `undefined`. */
function withAt(value: Json, [step, ...rest]: string[], to: Json | undefined): Json {
  if (step === undefined) return to;
  const object = { ...(value as Record<string, Json>) };
  if (rest.length === 0 && to === undefined) delete object[step];
  else object[step] = withAt(object[step], rest, to);
  return object;
}

/** The one branch of a union the value takes (the first that it validates against), else the schema. */
function branchOf(schema: Schema, value: Json): Schema {
  const resolved = schema.$ref ? deref(schema.$ref) : schema;
  const branches = resolved.oneOf ?? resolved.anyOf;
  if (!branches || resolved.properties) return resolved;
  const taken = branches.find((branch) => validate(branch, value).length === 0);
  return taken ? branchOf(taken, value) : resolved;
}

/**
 * Every constraint the schema states about `value`, and the fields under it, broken one at a time: each
 * change is a whole body (or query) that differs from the valid one in that one place.
 */
function brokenValues(
  schema: Schema,
  value: Json,
  path: string[],
  parent?: Record<string, Json>,
): Array<{ change: string; value: Json }> {
  const own = branchOf(schema, value);
  const at = path.join(".") || "the body";
  const set = (to: Json) => to;
  const broken: Array<{ change: string; value: Json }> = [];
  const types = [own.type].flat().filter(Boolean) as string[];
  const isString = typeof value === "string";
  if (value !== null || !types.includes("null")) {
    broken.push({
      change: `${at} of another type`,
      value: isString || types.includes("string") ? 12345 : "not-a-value",
    });
  }
  if (own.enum) broken.push({ change: `${at} outside its enum`, value: "NOT_IN_THE_ENUM" });
  if ("const" in own) broken.push({ change: `${at} not its constant`, value: "NOT_THE_CONSTANT" });
  if (isString) {
    if ((own.minLength ?? 0) > 0)
      broken.push({ change: `${at} below minLength`, value: "x".repeat((own.minLength ?? 1) - 1) });
    if (own.maxLength !== undefined)
      broken.push({ change: `${at} above maxLength`, value: "x".repeat(own.maxLength + 1) });
    if (own.pattern) {
      const pattern = new RegExp(own.pattern, "u");
      const off = ["!", "not matching ✗", " ", "0", "a"].find((candidate) => !pattern.test(candidate));
      if (off !== undefined) broken.push({ change: `${at} off its pattern`, value: off });
    }
    if (own.not?.pattern) {
      // A value the field refuses for this pattern alone: it keeps every other rule of the field.
      const { not, ...rest } = own;
      const [forbidden] = fc.sample(
        fc
          .stringMatching(generatorRegex(not.pattern as string, "u"))
          .filter((candidate) => validate(rest, candidate).length === 0),
        { seed: SEED, numRuns: 1 },
      );
      if (forbidden !== undefined)
        broken.push({ change: `${at} matching the pattern it must not`, value: forbidden });
    }
    const formatBreaker = own.format ? FORMAT_BREAKERS[own.format] : undefined;
    if (formatBreaker) broken.push({ change: `${at} not a ${own.format}`, value: formatBreaker });
    if (own["x-after"] === "now")
      broken.push({ change: `${at} in the past`, value: new Date(Date.now() - DAY_MS).toISOString() });
    if (own["x-not-after"] === "today") {
      broken.push({
        change: `${at} in the future`,
        value: new Date(Date.now() + 3 * DAY_MS).toISOString().slice(0, 10),
      });
    }
    if (own["x-not-after"] === "now")
      broken.push({ change: `${at} in the future`, value: new Date(Date.now() + 3 * DAY_MS).toISOString() });
    if (own.format === "date" && typeof own.formatMinimum === "string") {
      const dayBefore = new Date(Date.parse(own.formatMinimum) - DAY_MS).toISOString().slice(0, 10);
      broken.push({ change: `${at} before its formatMinimum`, value: dayBefore });
    }
    const earlierName = own["x-not-before"];
    const earlier = earlierName && parent ? valueAt(parent, earlierName) : undefined;
    if (typeof earlier === "string") {
      const before = new Date(Date.parse(earlier) - DAY_MS).toISOString();
      broken.push({
        change: `${at} before ${earlierName}`,
        value: earlier.length === 10 ? before.slice(0, 10) : before,
      });
    }
  }
  if (typeof value === "number") {
    if (own.minimum !== undefined) broken.push({ change: `${at} below minimum`, value: own.minimum - 1 });
    if (own.maximum !== undefined) broken.push({ change: `${at} above maximum`, value: own.maximum + 1 });
    if (own.exclusiveMinimum !== undefined)
      broken.push({ change: `${at} at exclusiveMinimum`, value: own.exclusiveMinimum });
    if (own.exclusiveMaximum !== undefined)
      broken.push({ change: `${at} at exclusiveMaximum`, value: own.exclusiveMaximum });
    if (types.includes("integer") && !types.includes("number"))
      broken.push({ change: `${at} not an integer`, value: 1.5 });
  }
  if (Array.isArray(value)) {
    if ((own.minItems ?? 0) > 0) broken.push({ change: `${at} below minItems`, value: [] });
    if (own.maxItems !== undefined && value.length > 0) {
      broken.push({
        change: `${at} above maxItems`,
        value: Array.from({ length: own.maxItems + 1 }, () => value[0]),
      });
    }
    if (own.items && value.length > 0) {
      for (const inner of brokenValues(own.items, value[0], [...path, "0"])) {
        broken.push({ change: inner.change, value: [inner.value, ...value.slice(1)] });
      }
    }
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const record = value as Record<string, Json>;
    if ((own.minProperties ?? 0) > 0)
      broken.push({ change: `${at} with no field (minProperties)`, value: {} });
    if (own.additionalProperties === false)
      broken.push({ change: `${at} with an unknown field`, value: { ...record, favouriteColour: "blue" } });
    for (const key of own.required ?? []) {
      if (key in record)
        broken.push({
          change: `${[...path, key].join(".")} left out`,
          value: withAt(record, [key], undefined),
        });
    }
    for (const [key, property] of Object.entries(own.properties ?? {})) {
      if (!(key in record)) continue;
      for (const inner of brokenValues(property, record[key], [...path, key], record)) {
        broken.push({ change: inner.change, value: withAt(record, [key], set(inner.value)) });
      }
    }
  }
  return broken;
}

/** The most complete of a few valid requests: optional and nested fields present, so they get broken too. */
function fullestRequest(route: string, operation: Operation, world: ContractWorld): DrawnRequest {
  const drawn = fc
    .sample(requestArbitrary(route, operation, world), { seed: SEED, numRuns: 30 })
    .map((request) => ({ ...request, path: request.path }));
  const size = (request: DrawnRequest) =>
    JSON.stringify(request.body ?? {}).replaceAll("null", "").length + Object.keys(request.query).length * 40;
  const fullest = drawn.sort((a, b) => size(b) - size(a))[0];
  if (!fullest) throw new Error("no request drawn");
  // Own ids, so that a broken request is refused for its input, not for the record it names.
  return {
    ...fullest,
    path: route.replace(/\{(\w+)\}/g, (_, name: string) => idFor(name, route, world, "own") ?? randomUUID()),
  };
}

/** What a refused request must leave as it was: the service tables and the outbox (row count, last position). */
async function writtenState(): Promise<string> {
  const outbox = await db.execute<{ rows: string; last: string | null }>(
    sql`SELECT count(*)::text AS rows, max(position)::text AS last FROM outbox`,
  );
  return JSON.stringify({ tables: await stateDigest(db), outbox: outbox.rows[0] });
}

describe("requests that break the document, one constraint at a time", () => {
  for (const { method, route, operation } of operations) {
    const role = (["admin", "service", "auditor", "provider", "patient"] as Role[]).find((candidate) =>
      operation["x-roles"].includes(candidate),
    ) as Role;
    const bodySchema = operation.requestBody?.content["application/json"]?.schema;
    const query = (operation.parameters ?? []).filter((parameter) => parameter.in === "query");
    if (!bodySchema && !route.includes("{") && query.length === 0) continue;

    it(`${method} ${route}: each constraint broken gets a declared 4xx that writes nothing`, async () => {
      const world = { ...(await careWorld(db)), erased: await erasedPatient() };
      const valid = fullestRequest(route, operation, world);
      const broken: Array<Broken & { path: string }> = [
        ...(route.includes("{")
          ? [{ change: "a malformed path id", path: route.replace(/\{\w+\}/g, "not-a-uuid") }]
          : []),
        ...(bodySchema
          ? brokenValues(bodySchema, valid.body, []).map(({ change, value }) => ({
              change,
              body: value,
              path: valid.path,
            }))
          : []),
        ...query.flatMap((parameter) =>
          brokenValues(parameter.schema, valid.query[parameter.name] ?? documentExample(parameter.schema), [
            "query",
            parameter.name,
          ])
            // A query value is text: "another type" is the same text; what can be broken is its content.
            .filter(({ change }) => !change.endsWith("of another type") || parameter.schema.type !== "string")
            .map(({ change, value }) => ({
              change,
              path: valid.path,
              query: { ...valid.query, [parameter.name]: String(value) },
            })),
        ),
      ];
      broken.push(
        ...brokenQueryRules(query, valid.query, await valuesFromResponses(operation)).map((change) => ({
          ...change,
          path: valid.path,
        })),
      );
      const count = counted(`${method} ${route}`);
      for (const change of broken) {
        const request: DrawnRequest = {
          path: change.path,
          body: "body" in change ? change.body : valid.body,
          query: change.query ?? valid.query,
        };
        const before = await writtenState();
        const answer = await send(role, world, method, request);
        count.broken += 1;
        const what = `${method} ${request.path}?${new URLSearchParams(request.query)} with ${change.change}: ${answer.status} ${JSON.stringify(answer.body)}`;
        expect([400, 422], what).toContain(answer.status);
        expect(offContract(operation, answer), what).toEqual([]);
        expect(await writtenState(), `${what}: wrote something`).toBe(before);
      }
    });
  }
});

/**
 * The rules between query parameters broken one at a time: `x-requires` (the one without the other),
 * `x-excludes` (both), `x-later-than` (not later), `x-not-below` (below). Each other value is valid.
 */
function brokenQueryRules(
  query: NonNullable<Operation["parameters"]>,
  valid: Record<string, string>,
  fromResponses: Record<string, string[]>,
): Broken[] {
  const value = (name: string) => {
    const parameter = query.find((candidate) => candidate.name === name);
    const handedOut = fromResponses[name];
    if (handedOut) return handedOut[0] as string;
    return valid[name] ?? (parameter ? String(documentExample(parameter.schema)) : "");
  };
  return query.flatMap(({ name, schema }): Broken[] => {
    const rules: Broken[] = [];
    const requires = schema["x-requires"] as string | undefined;
    const excludes = schema["x-excludes"] as string | undefined;
    const laterThan = schema["x-later-than"] as string | undefined;
    const notBelow = schema["x-not-below"] as string | undefined;
    const without = (other: string) =>
      Object.fromEntries(Object.entries(valid).filter(([key]) => key !== other));
    if (requires)
      rules.push({
        change: `query.${name} without ${requires}`,
        query: { ...without(requires), [name]: value(name) },
      });
    if (excludes)
      rules.push({
        change: `query.${name} with ${excludes}`,
        query: { ...valid, [name]: value(name), [excludes]: value(excludes) },
      });
    if (laterThan) {
      const earlier = value(laterThan);
      const notLater = new Date(Date.parse(earlier) - DAY_MS).toISOString();
      rules.push({
        change: `query.${name} before ${laterThan}`,
        query: { ...without(excludes ?? ""), [laterThan]: earlier, [name]: notLater },
      });
    }
    if (notBelow) {
      const positions = [...(fromResponses[name] ?? [])].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
      const [low, high] = [positions[0], positions.at(-1)];
      if (low !== undefined && high !== undefined && low !== high) {
        rules.push({ change: `query.${name} below ${notBelow}`, query: { [notBelow]: high, [name]: low } });
      }
    }
    return rules;
  });
}

/** A valid value for a query parameter the valid request left out, so that its constraints get broken too. */
function documentExample(schema: Schema): Json {
  const [example] = fc.sample(
    documentValue(schema, deref).filter((value) => validate(schema, value).length === 0),
    {
      seed: SEED,
      numRuns: 1,
    },
  );
  return example;
}

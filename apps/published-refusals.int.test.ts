// Every value the API refuses, the published document refuses too, or says in words why it would be: a client
// generated from /openapi.json must not send, as valid, a value that is a 400. Each value here was one: refused
// by name and writing nothing, while the document took it (a U+0000 in an audit filter, an outbox position past
// the largest bigint, a booking that ends after 9999, an `https` host label that is no punycode, a JSON number past
// the largest double). Each is still refused, writing nothing, and the document now says so: by the schema
// itself where JSON Schema can (checked by the validator a client would use), in the field's description and
// format where it cannot.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld } from "../test/careWorld.ts";
import { documentValidator, type Schema } from "../test/documentValues.ts";
import { testDatabase } from "../test/fixtures.ts";
import { eventsOf, stateDigest } from "../test/platformState.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { caller, testPlatform } from "../test/tokens.ts";
import type { Role } from "./http/auth.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

interface Operation {
  parameters?: Array<{ name: string; in: string; schema: Schema }>;
  requestBody?: { content: Record<string, { schema: Schema }> };
}
const document = (await (await app.request("/openapi.json")).json()) as {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown> };
};
const validate = documentValidator(document);

function parameter(route: string, name: string): Schema {
  const found = document.paths[route]?.get?.parameters?.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`GET ${route} has no parameter ${name}`);
  return found.schema;
}

/** A body field's schema, in the branch of a `oneOf` that has it. */
function bodyField(route: string, path: string[]): Schema {
  let schema = document.paths[route]?.post?.requestBody?.content["application/json"]?.schema as Schema;
  for (const name of path) {
    const branches: Schema[] = schema.oneOf ?? [schema];
    const holder = branches.find((branch) => branch.properties?.[name] !== undefined);
    if (!holder?.properties) throw new Error(`POST ${route} has no ${path.join(".")}`);
    schema = holder.properties[name] as Schema;
  }
  return schema;
}

/** An outbox's last position: a refusal leaves none after it, not even the record of a read. */
async function lastPosition(): Promise<string> {
  const { rows } = await db.$client.query<{ last: string }>(
    "SELECT coalesce(max(position), 0)::text AS last FROM outbox",
  );
  return rows[0]?.last ?? "0";
}

/** Sends a request as `role`; expects a 400 naming `field` that changed no table and wrote no event. */
async function expectRefused(
  role: Role,
  request: { method: string; path: string; body?: string },
  field: string,
): Promise<{ message: string }> {
  const user = await caller(role);
  const correlationId = randomUUID();
  const before = await stateDigest(db);
  const position = await lastPosition();
  const response = await app.request(request.path, {
    method: request.method,
    headers: user.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
    body: request.body,
  });
  expect(response.status, request.path).toBe(400);
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  const { errors } = (await response.json()) as { errors: Array<{ field: string; message: string }> };
  expect(errors.map((error) => error.field)).toEqual([field]);
  expect(await stateDigest(db)).toBe(before);
  expect(await eventsOf(db, correlationId)).toEqual([]);
  expect(await lastPosition()).toBe(position);
  return errors[0] as { message: string };
}

describe("a text filter of the audit history", () => {
  it("with U+0000 is refused by the document's pattern as by the API, for each filter of both routes", async () => {
    for (const route of ["/audit/events", "/audit/events/export"]) {
      // The aggregate id is free text; the aggregate and event types are the catalog's, published as enums.
      expect(validate(parameter(route, "aggregateId"), "patient \u00e9\u{1F600}"), route).toEqual([]);
      for (const name of ["aggregateType", "aggregateId", "eventType"]) {
        expect(validate(parameter(route, name), "patient\u0000"), `${route} ${name}`).not.toEqual([]);
        const query = name === "aggregateId" ? "aggregateType=patient&aggregateId=a%00" : `${name}=a%00`;
        await expectRefused("auditor", { method: "GET", path: `${route}?${query}` }, `query.${name}`);
      }
    }
  });
});

describe("an outbox position of /audit/verify", () => {
  it("past the largest bigint is refused by the document's pattern as by the API; the largest is taken", async () => {
    for (const name of ["from", "to"]) {
      const schema = parameter("/audit/verify", name);
      for (const past of ["9223372036854775808", "9300000000000000000", "9999999999999999999"]) {
        expect(validate(schema, past), `${name}=${past}`).not.toEqual([]);
        await expectRefused(
          "auditor",
          { method: "GET", path: `/audit/verify?${name}=${past}` },
          `query.${name}`,
        );
      }
      for (const within of ["1", "999999999999999999", "9223372036854775807", "9223372036854775799"]) {
        expect(validate(schema, within), `${name}=${within}`).toEqual([]);
      }
    }
  });
});

describe("a booking that would end after 9999", () => {
  it("is refused, and the description of scheduledAt says when a booking must be over", async () => {
    expect(bodyField("/appointments", ["scheduledAt"]).description).toContain(
      "durationMinutes after it, over by 9999-12-31T23:59:59.999Z",
    );
    const world = await careWorld(db);
    const booking = {
      ...requestBodies.booking(world.own.patientId, world.own.providerId),
      scheduledAt: "9999-12-31T23:50:00.000Z",
      durationMinutes: 30,
    };
    await expectRefused(
      "admin",
      { method: "POST", path: "/appointments", body: JSON.stringify(booking) },
      "body.scheduledAt",
    );
  });
});

describe("a model name, bounded as sent and in the Unicode NFC it is stored in", () => {
  it("is refused when it grows past its bound under NFC, as its description and x-max-length-nfc say", async () => {
    const schema = bodyField("/ai/models", ["modelName"]);
    expect(schema).toMatchObject({ maxLength: 200, "x-max-length-nfc": 200 });
    expect(schema.description).toContain("in Unicode NFC");
    // U+0958 is two characters in NFC: 200 of them are valid as sent, 400 as stored.
    const growing = "\u0958".repeat(200);
    expect(validate({ ...schema, description: undefined }, growing)).toEqual([]);
    const { message } = await expectRefused(
      "admin",
      {
        method: "POST",
        path: "/ai/models",
        body: JSON.stringify({ ...requestBodies.model(), modelName: growing }),
      },
      "body.modelName",
    );
    expect(message).toBe("must be at most 200 characters in Unicode NFC, the form it is stored in");
  });

  it("is refused past its bound as sent, though NFC would shorten it, as the document's maxLength says", async () => {
    // 201 characters sent (an a, then 100 e's each with a combining acute), 101 in NFC: was taken.
    const shrinking = `a${"e\u0301".repeat(100)}`;
    expect(validate(bodyField("/ai/models", ["modelName"]), shrinking)).not.toEqual([]);
    await expectRefused(
      "admin",
      {
        method: "POST",
        path: "/ai/models",
        body: JSON.stringify({ ...requestBodies.model(), modelName: shrinking }),
      },
      "body.modelName",
    );
    // Within its bound both ways, a decomposed name is taken, and stored in NFC.
    const user = await caller("admin");
    const response = await app.request("/ai/models", {
      method: "POST",
      headers: user.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ ...requestBodies.model(), modelName: `Mode\u0300le ${randomUUID()}` }),
    });
    expect(response.status).toBe(201);
    expect(((await response.json()) as { modelName: string }).modelName).toMatch(/^Mod\u00e8le /);
  });
});

describe("an https address whose host has a label that is no punycode", () => {
  it("is refused, and the description of each https field says why its pattern takes it", async () => {
    const address = "https://xn--a.example.org/scan.pdf";
    for (const [route, path] of [
      ["/documents", ["storageUrl"]],
      ["/appointments", ["location", "url"]],
    ] as const) {
      const schema = bodyField(route, [...path]);
      expect(validate({ ...schema, description: undefined }, address), route).toEqual([]);
      expect(schema.description, route).toContain("`xn--…`");
    }
    const world = await careWorld(db);
    await expectRefused(
      "admin",
      {
        method: "POST",
        path: "/documents",
        body: JSON.stringify({ ...requestBodies.document(world.own.patientId), storageUrl: address }),
      },
      "body.storageUrl",
    );
  });
});

describe("a JSON number past the largest double", () => {
  it("is refused by name, not as an Infinity the client never wrote, and the document says the number is a double", async () => {
    expect(bodyField("/ai/predictions", ["score"])).toMatchObject({ type: "number", format: "double" });
    const metric = bodyField("/ai/models", ["metrics"]).additionalProperties as Schema;
    expect(metric).toMatchObject({ type: "number", format: "double" });

    const world = await careWorld(db);
    const prediction = JSON.stringify(requestBodies.prediction(world.modelId, world.own.patientId));
    const refused = await expectRefused(
      "service",
      {
        method: "POST",
        path: "/ai/predictions",
        body: prediction.replace(/"score":[^,}]+/, '"score":1e400'),
      },
      "body.score",
    );
    expect(refused.message).toBe(
      "must be a finite number: an IEEE 754 double, at most 1.7976931348623157e+308 either way",
    );
    const model = JSON.stringify(requestBodies.model());
    const metricRefused = await expectRefused(
      "service",
      {
        method: "POST",
        path: "/ai/models",
        body: model.replace(/"metrics":\{/, '"metrics":{"brier":-1e400,'),
      },
      "body.metrics.brier",
    );
    expect(metricRefused.message).toBe(refused.message);
  });
});

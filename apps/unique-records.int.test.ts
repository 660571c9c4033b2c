// Records that exist once: a provider profile per login, a model per name and version. A second is a 409 naming
// what exists, with nothing written (the constraints' names mapped in apps/http/constraintViolation.ts).
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../test/fixtures.ts";
import { eventsOf } from "../test/platformState.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

async function send(who: Caller, method: string, path: string, body: unknown) {
  const correlationId = randomUUID();
  const response = await app.request(path, {
    method,
    headers: who.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as { id?: string; detail?: string };
  return { status: response.status, answer, events: await eventsOf(db, correlationId) };
}

describe("a record that exists once", () => {
  it("is one provider profile per login: a second, or a change of login onto it, is a 409 writing nothing", async () => {
    const admin = await caller("admin");
    const login = randomUUID();
    expect((await send(admin, "POST", "/providers", requestBodies.provider({ userId: login }))).status).toBe(
      201,
    );
    const again = await send(admin, "POST", "/providers", requestBodies.provider({ userId: login }));
    expect([again.status, again.answer.detail, again.events]).toEqual([
      409,
      "That login (userId) already has a provider profile.",
      [],
    ]);
    const other = await send(admin, "POST", "/providers", requestBodies.provider({ userId: null }));
    const moved = await send(admin, "PATCH", `/providers/${other.answer.id}`, { userId: login });
    expect([moved.status, moved.events]).toEqual([409, []]);
  });

  it("is one model per name and version: a second is a 409 writing nothing", async () => {
    const service = await caller("service");
    const model = requestBodies.model();
    expect((await send(service, "POST", "/ai/models", model)).status).toBe(201);
    const again = await send(service, "POST", "/ai/models", model);
    expect([again.status, again.answer.detail, again.events]).toEqual([
      409,
      `${model.modelName} ${model.version} is already recorded.`,
      [],
    ]);
  });
});

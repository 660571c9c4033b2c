// An insight may be drawn only from a prediction about its own patient: one tied to another patient's record
// would be erased with that patient (their predictions' insights go with them) and would link two records.
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld } from "../../test/careWorld.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const post = (user: Caller, path: string, body: unknown) =>
  app.request(path, {
    method: "POST",
    headers: user.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });

describe("POST /ai/insights", () => {
  it("refuses a prediction about another patient with a 409 naming it, and writes nothing", async () => {
    const world = await careWorld(db);
    const service = await caller("service");
    const predicted = await post(
      service,
      "/ai/predictions",
      requestBodies.prediction(world.modelId, world.own.patientId),
    );
    expect(predicted.status).toBe(201);
    const { id: predictionId } = (await predicted.json()) as { id: string };
    const before = await db.execute<{ count: number }>(sql`SELECT count(*)::int AS count FROM outbox`);

    const crossed = await post(service, "/ai/insights", {
      ...requestBodies.insight(world.other.patientId),
      predictionId,
    });
    expect(crossed.status).toBe(409);
    expect(await crossed.json()).toMatchObject({
      errors: [{ field: "body.predictionId", message: "is a prediction about another patient" }],
    });
    const insights = await db.execute(sql`SELECT 1 FROM ai_insights WHERE prediction_id = ${predictionId}`);
    expect(insights.rowCount).toBe(0);
    const after = await db.execute<{ count: number }>(sql`SELECT count(*)::int AS count FROM outbox`);
    expect(after.rows[0]?.count).toBe(before.rows[0]?.count);

    const own = await post(service, "/ai/insights", {
      ...requestBodies.insight(world.own.patientId),
      predictionId,
    });
    expect(own.status).toBe(201);
    expect(((await own.json()) as { predictionId: string }).predictionId).toBe(predictionId);
  });
});

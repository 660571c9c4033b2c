// A model's times are read back as they were written, in any year the API takes (drizzle's own timestamp column
// read the years 0001-0099 as 1901-1999), and its latest performance is the latest measured, whatever order
// the measurements are reported in: a late one is recorded as its event but replaces nothing. A training or a
// measurement dated in the future is refused: one would stay the latest and hide every real one after it.
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const post = async (user: Caller, path: string, body: unknown) => {
  const response = await app.request(path, {
    method: "POST",
    headers: user.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

const outboxRows = async () =>
  (await db.execute<{ count: number }>(sql`SELECT count(*)::int AS count FROM outbox`)).rows[0]?.count;

async function recordModel(trainedAt: string) {
  const created = await post(await caller("service"), "/ai/models", { ...requestBodies.model(), trainedAt });
  expect(created.status).toBe(201);
  return created.body as { id: string; trainedAt: string };
}

describe("an AI model", () => {
  it.each([
    "0001-01-01T00:00:00.000Z",
    "0050-06-15T12:00:00.000Z",
    "0099-12-31T23:59:59.000Z",
    "2024-12-31T23:59:59.999Z",
  ])("trained at %s is answered as trained then, and stored so", async (trainedAt) => {
    const model = await recordModel(trainedAt);
    expect(model.trainedAt).toBe(trainedAt);
    const { rows } = await db.execute<{ trained_at: string }>(
      sql`SELECT to_char(trained_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS trained_at FROM ai_models WHERE id = ${model.id}`,
    );
    expect(rows[0]?.trained_at).toBe(trainedAt.slice(0, 10));
    const measured = await post(await caller("service"), `/ai/models/${model.id}/performance`, {
      ...requestBodies.performance(),
      measuredAt: trainedAt,
      window: { start: "0001-01-01T00:00:00.000Z", end: trainedAt },
    });
    expect(measured.body).toMatchObject({ trainedAt, latestMeasuredAt: trainedAt });
  });

  // Fixed-width formatters write a millisecond with zeros after it: Python's isoformat six digits, .NET's "o" seven.
  it.each(["2024-05-01T10:00:00.123000Z", "2024-05-01T10:00:00.1230000Z", "2024-05-01T10:00:00.123000000Z"])(
    "trained at %s, a millisecond in more digits, is taken as that millisecond",
    async (trainedAt) => {
      const model = await recordModel(trainedAt);
      expect(model.trainedAt).toBe("2024-05-01T10:00:00.123Z");
      const { rows } = await db.execute<{ trained_at: string }>(
        sql`SELECT to_char(trained_at AT TIME ZONE 'UTC', 'HH24:MI:SS.US') AS trained_at FROM ai_models WHERE id = ${model.id}`,
      );
      expect(rows[0]?.trained_at).toBe("10:00:00.123000");
    },
  );

  it("refuses a training time finer than a millisecond, naming the field and writing nothing", async () => {
    const before = await outboxRows();
    const refused = await post(await caller("service"), "/ai/models", {
      ...requestBodies.model(),
      trainedAt: "2024-05-01T10:00:00.123456Z",
    });
    expect([refused.status, refused.body.errors]).toEqual([
      400,
      [
        {
          field: "body.trainedAt",
          message:
            "must not be more precise than milliseconds (the digits after the third of the fraction must be 0)",
        },
      ],
    ]);
    expect(await outboxRows()).toBe(before);
  });

  it("keeps the latest measured performance when an older measurement is reported after it", async () => {
    const service = await caller("service");
    const model = await recordModel("2024-01-01T00:00:00.000Z");
    const measure = (measuredAt: string, auc: number) =>
      post(service, `/ai/models/${model.id}/performance`, {
        ...requestBodies.performance(),
        metrics: { auc },
        measuredAt,
        window: { start: "2024-01-01T00:00:00Z", end: "2024-02-01T00:00:00Z" },
      });
    expect((await measure("2024-03-01T00:00:00.000Z", 0.91)).body).toMatchObject({
      latestMetrics: { auc: 0.91 },
      latestMeasuredAt: "2024-03-01T00:00:00.000Z",
    });
    const late = await measure("2024-02-01T00:00:00.000Z", 0.5);
    expect(late.status).toBe(200);
    expect(late.body).toMatchObject({
      latestMetrics: { auc: 0.91 },
      latestMeasuredAt: "2024-03-01T00:00:00.000Z",
    });
    const { rows } = await db.execute<{ event_type: string }>(
      sql`SELECT event_type FROM outbox WHERE aggregate_id = ${model.id} ORDER BY position`,
    );
    // Both measurements are in the history; only the one that changed the model is an audited change of it.
    expect(rows.filter((row) => row.event_type === "ai.model.performance.updated")).toHaveLength(2);
    const changes = await db.execute<{ count: number }>(
      sql`SELECT count(*)::int AS count FROM outbox WHERE event_type = 'audit.data.modified' AND payload::jsonb -> 'data' ->> 'resourceId' = ${model.id} AND payload::jsonb -> 'data' ->> 'action' = 'UPDATE'`,
    );
    expect(changes.rows[0]?.count).toBe(1);
    expect((await measure("2024-03-01T00:00:00.000Z", 0.93)).body).toMatchObject({
      latestMetrics: { auc: 0.93 },
    });
  });

  it("refuses a training or a measurement dated in the future, naming the field and writing nothing", async () => {
    const service = await caller("service");
    const model = await recordModel("2024-01-01T00:00:00.000Z");
    const before = await outboxRows();
    const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
    const refused = [
      await post(service, "/ai/models", { ...requestBodies.model(), trainedAt: inAnHour }),
      await post(service, `/ai/models/${model.id}/performance`, {
        ...requestBodies.performance(),
        measuredAt: "2030-06-01T00:00:00Z",
      }),
    ];
    expect(refused.map(({ status, body }) => [status, body.errors])).toEqual([
      [400, [{ field: "body.trainedAt", message: "must not be in the future" }]],
      [400, [{ field: "body.measuredAt", message: "must not be in the future" }]],
    ]);
    expect(await outboxRows()).toBe(before);

    // A reporting machine's clock a few seconds fast is not the future.
    const measuredAt = new Date(Date.now() + 5_000).toISOString();
    const measured = await post(service, `/ai/models/${model.id}/performance`, {
      ...requestBodies.performance(),
      measuredAt,
    });
    expect([measured.status, measured.body.latestMeasuredAt]).toEqual([200, measuredAt]);
  });

  it("refuses a measurement before the end of its window (400) or before the model was trained (409), writing nothing", async () => {
    const service = await caller("service");
    const model = await recordModel("2024-06-01T00:00:00.000Z");
    const before = await outboxRows();
    const measure = (measuredAt: string, window: { start: string; end: string }) =>
      post(service, `/ai/models/${model.id}/performance`, {
        ...requestBodies.performance(),
        measuredAt,
        window,
      });

    const unfinished = await measure("2024-07-01T00:00:00.000Z", {
      start: "2024-06-15T00:00:00.000Z",
      end: "2024-07-15T00:00:00.000Z",
    });
    expect([unfinished.status, unfinished.body.errors]).toEqual([
      400,
      [{ field: "body.measuredAt", message: "must not be before window.end" }],
    ]);
    // A window of traffic from before the training is a backtest, and fine; a measurement before it is not.
    const untrained = await measure("2024-05-01T00:00:00.000Z", {
      start: "2024-04-01T00:00:00.000Z",
      end: "2024-05-01T00:00:00.000Z",
    });
    expect([untrained.status, untrained.body.detail]).toEqual([
      409,
      `Model ${model.id} was trained at 2024-06-01T00:00:00.000Z: it cannot have been measured before.`,
    ]);
    expect(await outboxRows()).toBe(before);

    const backtest = await measure("2024-06-01T00:00:00.000Z", {
      start: "2024-04-01T00:00:00.000Z",
      end: "2024-05-01T00:00:00.000Z",
    });
    expect([backtest.status, backtest.body.latestMeasuredAt]).toEqual([200, "2024-06-01T00:00:00.000Z"]);
  });
});

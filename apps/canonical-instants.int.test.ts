// Events carry an instant in one form, toISOString()'s (`2026-12-04T10:00:00.123Z`: UTC, three fraction
// digits), whatever form the request wrote it in: the API takes a millisecond in more digits (`.123000`, as
// Python's isoformat writes it) or none (`10:00:00Z`), and the event holds the same instant in the one form.
// An instant finer than a millisecond cannot be, and is refused, naming the field, with nothing written. Before,
// the AI and document services wrote `trainedAt`, `measuredAt`, the measurement's window, `processedAt` and a
// consent's `expiresAt` into their events verbatim.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { type CareWorld, careWorld } from "../test/careWorld.ts";
import { openedUnlessErased, testDatabase } from "../test/fixtures.ts";
import { loginOf } from "../test/platformState.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { roles, serviceRoutes } from "../test/serviceRoutes.ts";
import { type Caller, caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

/** A UTC date-time as the API takes it: any fraction, or none. */
const UTC_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
/** The one form events carry. */
const CANONICAL = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Every string in `value` that is a UTC date-time, wherever it sits, with where. */
function timesIn(value: unknown, at = ""): Array<[string, string]> {
  if (typeof value === "string") return UTC_TIME.test(value) ? [[at, value]] : [];
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([name, inner]) => timesIn(inner, at ? `${at}.${name}` : name));
}

/** `value` with each UTC date-time in it rewritten by `rewrite`. */
function rewriteTimes(value: unknown, rewrite: (time: string) => string): unknown {
  if (typeof value === "string") return UTC_TIME.test(value) ? rewrite(value) : value;
  if (Array.isArray(value)) return value.map((inner) => rewriteTimes(inner, rewrite));
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([name, inner]) => [name, rewriteTimes(inner, rewrite)]),
  );
}

/** The same millisecond in six digits, as Python's isoformat writes it. */
const sixDigits = (time: string) => new Date(time).toISOString().replace(/Z$/, "000Z");

/** The events a request wrote, envelopes opened, in order. */
async function eventsWritten(correlationId: string) {
  const { rows } = await db.execute<{ event_type: string; payload: string }>(
    sql`SELECT event_type, payload::text AS payload FROM outbox WHERE correlation_id = ${correlationId} ORDER BY position`,
  );
  return Promise.all(
    rows.map(async (row) => ({ type: row.event_type, envelope: await openedUnlessErased(db, row.payload) })),
  );
}

async function send(user: Caller, method: string, path: string, body: unknown) {
  const correlationId = randomUUID();
  const response = await app.request(path, {
    method,
    headers: user.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
    body: JSON.stringify(body),
  });
  const text = await response.text();
  const answer = (text === "" ? {} : JSON.parse(text)) as Record<string, unknown>;
  return { status: response.status, body: answer, events: await eventsWritten(correlationId) };
}

describe("every route, sent its times with six fraction digits", () => {
  for (const routeCase of serviceRoutes) {
    it(`${routeCase.method} ${routeCase.route} writes every instant of its events in the one form`, async () => {
      const world = await careWorld(db);
      const role = roles.find((candidate) => routeCase.expected[candidate].own !== 403);
      if (!role) throw new Error(`no role may call ${routeCase.route}`);
      const user = await caller(role, loginOf(role, world, routeCase));
      const { path, body } = routeCase.request(world, "own");
      const sent = timesIn(body).map(([, time]) => time);
      const { status, events } = await send(user, routeCase.method, path, rewriteTimes(body, sixDigits));
      expect(status).toBe(routeCase.expected[role].own);
      const written = events.flatMap(({ type, envelope }) =>
        timesIn(envelope).map(([at, time]) => ({ at: `${type} ${at}`, time })),
      );
      expect(written.filter(({ time }) => !CANONICAL.test(time))).toEqual([]);
      // Each time the request named is in an event, as the same instant in the one form.
      const times = written.map(({ time }) => time);
      for (const time of sent) expect(times).toContain(new Date(time).toISOString());
    });
  }
});

describe("an instant in another form than the events'", () => {
  let world: CareWorld;
  const service = () => caller("service");
  const dataOf = (events: Awaited<ReturnType<typeof send>>["events"], type: string) =>
    events.find((event) => event.type === type)?.envelope.data as Record<string, unknown>;

  it("ai.model.trained and ai.model.performance.updated carry it as toISOString() writes it", async () => {
    const model = await send(await service(), "POST", "/ai/models", {
      ...requestBodies.model(),
      trainedAt: "2024-12-04T10:00:00.123000Z",
    });
    expect(model.status).toBe(201);
    expect(model.body).toMatchObject({ trainedAt: "2024-12-04T10:00:00.123Z" });
    expect(dataOf(model.events, "ai.model.trained")).toMatchObject({ trainedAt: "2024-12-04T10:00:00.123Z" });
    const measured = await send(await service(), "POST", `/ai/models/${String(model.body.id)}/performance`, {
      ...requestBodies.performance(),
      measuredAt: "2024-12-05T00:00:00Z",
      window: { start: "2024-12-04T10:00:00.5Z", end: "2024-12-04T23:59:59.999000000Z" },
    });
    expect(measured.status).toBe(200);
    expect(dataOf(measured.events, "ai.model.performance.updated")).toMatchObject({
      measuredAt: "2024-12-05T00:00:00.000Z",
      window: { start: "2024-12-04T10:00:00.500Z", end: "2024-12-04T23:59:59.999Z" },
    });
  });

  it("document.processed and consent.given carry it as toISOString() writes it", async () => {
    world = await careWorld(db);
    const path = `/documents/${world.own.documentId}`;
    const processed = await send(await service(), "POST", `${path}/processing-results`, {
      ...requestBodies.processingResult(),
      processedAt: sixDigits(new Date(Date.now() - 1000).toISOString()).replace(/\d{3}000Z$/, "120000Z"),
    });
    expect(processed.status, JSON.stringify(processed.body)).toBe(200);
    const processedAt = dataOf(processed.events, "document.processed").processedAt as string;
    expect(processedAt).toMatch(/\.120Z$/);
    expect(processed.body).toMatchObject({ processedAt });
    const admin = await caller("admin");
    const consent = await send(admin, "POST", `${path}/consents`, {
      ...requestBodies.consent(),
      expiresAt: "2099-12-04T10:00:00.123000Z",
    });
    expect(consent.status, JSON.stringify(consent.body)).toBe(201);
    expect(dataOf(consent.events, "consent.given")).toMatchObject({ expiresAt: "2099-12-04T10:00:00.123Z" });
  });

  it("finer than a millisecond is refused, naming the field, and nothing is written", async () => {
    const model = await send(await service(), "POST", "/ai/models", {
      ...requestBodies.model(),
      trainedAt: "2024-12-04T10:00:00.123456Z",
    });
    expect(model.status).toBe(400);
    expect(model.body).toMatchObject({
      errors: [
        { field: "body.trainedAt", message: expect.stringContaining("more precise than milliseconds") },
      ],
    });
    expect(model.events).toEqual([]);
    world = await careWorld(db);
    const processed = await send(
      await service(),
      "POST",
      `/documents/${world.own.documentId}/processing-results`,
      { ...requestBodies.processingResult(), processedAt: "2024-12-04T10:00:00.123456Z" },
    );
    expect(processed.status).toBe(400);
    expect(processed.body).toMatchObject({ errors: [{ field: "body.processedAt" }] });
    expect(processed.events).toEqual([]);
  });
});

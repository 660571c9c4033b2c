// GET /audit/events answers each filter, alone and combined, with exactly the matching events of a known
// history, in commit order: by patient across aggregates, by aggregate, by acting user, by event type, by
// correlation id and by time range.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleEvent } from "../../events/examples.ts";
import { append, auditAll, isAuditorAccess } from "../../test/auditHistory.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { eventsOf } from "../../test/platformState.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";
import { encodeCursor } from "./schemas.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const pause = () => new Promise((resolve) => setTimeout(resolve, 20));

// Two patients, P and Q. U1 registers both; U2 books P an appointment and reads P's record (one request,
// correlation C); an AI insight about P is written by nobody.
const P = randomUUID();
const Q = randomUUID();
const appointment = randomUUID();
const U1 = randomUUID();
const U2 = randomUUID();
const C = randomUUID();
const ids = {} as Record<"pCreated" | "qCreated" | "booked" | "accessed" | "insight", string>;
let start: Date;
let afterRegistrations: Date;
let end: Date;
let auditor: Caller;

beforeAll(async () => {
  auditor = await caller("auditor");
  start = new Date();
  await pause();
  [ids.pCreated] = (await append(db, [exampleEvent("patient.created", { patientId: P })], {
    userId: U1,
  })) as [string];
  [ids.qCreated] = (await append(db, [exampleEvent("patient.created", { patientId: Q })], {
    userId: U1,
  })) as [string];
  await pause();
  afterRegistrations = new Date();
  await pause();
  [ids.booked, ids.accessed] = (await append(
    db,
    [
      exampleEvent("appointment.booked", { appointmentId: appointment, patientId: P }),
      exampleEvent("audit.data.accessed", {
        actorId: U2,
        actorRole: "PROVIDER",
        resourceType: "patient",
        resourceId: P,
        patientId: P,
        action: "READ",
        fields: null,
      }),
    ],
    { userId: U2, correlationId: C },
  )) as [string, string];
  [ids.insight] = (await append(db, [exampleEvent("ai.insight.created", { patientId: P })])) as [string];
  await pause();
  end = new Date();
});

async function query(filters: Record<string, string>) {
  const events = await auditAll(app, auditor, filters);
  return events.filter((found) => !isAuditorAccess(found)).map((found) => found.eventId);
}

const window = () => ({ from: start.toISOString(), to: end.toISOString() });

describe("the auditor's history query", () => {
  it("by patient: every event about them, across aggregates, in commit order", async () => {
    expect(await query({ patientId: P })).toEqual([ids.pCreated, ids.booked, ids.accessed, ids.insight]);
    expect(await query({ patientId: Q })).toEqual([ids.qCreated]);
  });

  it("by aggregate", async () => {
    expect(await query({ aggregateType: "patient", aggregateId: P })).toEqual([ids.pCreated]);
    expect(await query({ aggregateType: "appointment", aggregateId: appointment })).toEqual([ids.booked]);
  });

  it("by acting user (metadata.userId)", async () => {
    expect(await query({ userId: U1 })).toEqual([ids.pCreated, ids.qCreated]);
    expect(await query({ userId: U2 })).toEqual([ids.booked, ids.accessed]);
  });

  it("by correlation id", async () => {
    expect(await query({ correlationId: C })).toEqual([ids.booked, ids.accessed]);
  });

  it("by event type", async () => {
    const found = await auditAll(app, auditor, { eventType: "ai.insight.created" });
    expect(found.every((one) => one.eventType === "ai.insight.created")).toBe(true);
    expect(found.map((one) => one.eventId)).toContain(ids.insight);
    expect(found.map((one) => one.eventId)).not.toContain(ids.booked);
  });

  it("by time range: from inclusive, to exclusive", async () => {
    expect(await query(window())).toEqual([
      ids.pCreated,
      ids.qCreated,
      ids.booked,
      ids.accessed,
      ids.insight,
    ]);
    expect(await query({ from: start.toISOString(), to: afterRegistrations.toISOString() })).toEqual([
      ids.pCreated,
      ids.qCreated,
    ]);
    expect(await query({ from: afterRegistrations.toISOString(), to: end.toISOString() })).toEqual([
      ids.booked,
      ids.accessed,
      ids.insight,
    ]);
  });

  it("combines filters (all must hold)", async () => {
    expect(await query({ patientId: P, userId: U2 })).toEqual([ids.booked, ids.accessed]);
    expect(await query({ patientId: P, eventType: "audit.data.accessed" })).toEqual([ids.accessed]);
    expect(await query({ userId: U1, aggregateType: "patient", ...window() })).toEqual([
      ids.pCreated,
      ids.qCreated,
    ]);
    expect(await query({ eventType: "patient.created", ...window() })).toEqual([ids.pCreated, ids.qCreated]);
    expect(await query({ correlationId: C, eventType: "appointment.booked", patientId: P })).toEqual([
      ids.booked,
    ]);
    expect(await query({ patientId: Q, userId: U2 })).toEqual([]);
    expect(
      await query({ patientId: P, from: afterRegistrations.toISOString(), to: end.toISOString() }),
    ).toEqual([ids.booked, ids.accessed, ids.insight]);
  });

  it("answers each event with its envelope and its place in the history", async () => {
    const [created] = await auditAll(app, auditor, { aggregateType: "patient", aggregateId: P });
    expect(created).toMatchObject({
      eventId: ids.pCreated,
      eventType: "patient.created",
      aggregate: { type: "patient", id: P },
      version: 1,
      envelope: { eventId: ids.pCreated, data: { patientId: P }, metadata: { userId: U1 } },
    });
    expect(created?.position).toMatch(/^\d+$/);
    expect(Date.parse(created?.createdAt ?? "")).toBeGreaterThanOrEqual(start.getTime());
  });

  it("refuses a time range that holds no instant (to at or before from), for a page and an export alike", async () => {
    // Swapped ends answered "no events", which an auditor reads as "nothing happened then".
    for (const range of [
      { from: end.toISOString(), to: start.toISOString() },
      { from: start.toISOString(), to: start.toISOString() },
      // The same instant in two offsets.
      { from: "2026-01-01T12:00:00+02:00", to: "2026-01-01T10:00:00Z" },
    ]) {
      for (const path of ["/audit/events", "/audit/events/export"]) {
        const response = await app.request(`${path}?${new URLSearchParams({ patientId: P, ...range })}`, {
          headers: auditor.headers(),
        });
        expect(response.status, `${path} ${JSON.stringify(range)}`).toBe(400);
        expect(await response.json()).toMatchObject({
          errors: [{ field: "query.to", message: "must be later than from" }],
        });
      }
    }
  });

  it("refuses an aggregate id without its type, a cursor it did not issue and a limit over 1000", async () => {
    // Cursors of the query sent (no filter), naming a place.
    const cursorOf = (place: string) => {
      const [txId, position] = place.split(":") as [string, string];
      return encodeCursor({ txId, position }, {});
    };
    const { rows } = await db.$client.query<{ txId: string; position: string }>(
      `SELECT tx_id::text AS "txId", position::text AS "position" FROM outbox ORDER BY position DESC LIMIT 1`,
    );
    const newest = rows[0] as { txId: string; position: string };
    for (const filters of [
      { aggregateId: P } as Record<string, string>,
      { cursor: "bm90LWEtY3Vyc29y" },
      // Well formed, but no place of this history: beyond every transaction, or a row that is not there.
      { cursor: cursorOf("18446744073709551615:1") },
      { cursor: cursorOf(`${newest.txId}:${BigInt(newest.position) + 1000n}`) },
      { cursor: cursorOf(`${BigInt(newest.txId) + 1n}:${newest.position}`) },
      { limit: "1001" },
      { limit: "1e2" },
      { limit: "0x10" },
      { limit: " 5" },
    ]) {
      const response = await app.request(`/audit/events?${new URLSearchParams(filters)}`, {
        headers: auditor.headers(),
      });
      expect(response.status, JSON.stringify(filters)).toBe(400);
    }
  });

  it("takes a limit in one spelling, without leading zeros as a position's, and publishes the pattern it enforces", async () => {
    const document = (await (await app.request("/openapi.json")).json()) as {
      paths: Record<string, { get: { parameters: Array<{ name: string; schema: { pattern: string } }> } }>;
    };
    const limit = document.paths["/audit/events"]?.get.parameters.find(
      (parameter) => parameter.name === "limit",
    );
    const published = new RegExp(limit?.schema.pattern ?? "(?!)");
    for (const spelling of ["1", "9", "10", "100", "999", "1000", "01", "001", "0100", "00", "0", "1001"]) {
      const correlationId = randomUUID();
      const response = await app.request(`/audit/events?limit=${spelling}`, {
        headers: auditor.headers({ "X-Correlation-Id": correlationId }),
      });
      const recorded = (await eventsOf(db, correlationId)).map((event) => event.type);
      if (published.test(spelling)) {
        expect(response.status, spelling).toBe(200);
        // The access recorded, one per patient the page named.
        expect(recorded.length, spelling).toBeGreaterThan(0);
        expect(new Set(recorded), spelling).toEqual(new Set(["audit.data.accessed"]));
      } else {
        expect(response.status, spelling).toBe(400);
        expect(await response.json(), spelling).toMatchObject({
          errors: [
            { field: "query.limit", message: "must be a whole number from 1 to 1000, without leading zeros" },
          ],
        });
        expect(recorded, spelling).toEqual([]);
      }
    }
    // As verify's positions: one spelling of a whole number in every query.
    const verify = await app.request("/audit/verify?from=01", { headers: auditor.headers() });
    expect(verify.status).toBe(400);
    expect(await verify.json()).toMatchObject({ errors: [{ field: "query.from" }] });
  });
});

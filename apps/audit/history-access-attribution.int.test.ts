// Reads of patient data are attributed: whatever an auditor filters the history by (aggregate, correlation
// id, acting user, event type, one event, an export), the access is recorded once for every patient whose
// events the answer held, so that "who saw this patient's data" finds it; a query that returned nobody's
// events is recorded naming nobody. A record of access is nobody's data: a page holding only those, after the
// first, records nothing, so that a query paged to its end reaches it.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleEvent } from "../../events/examples.ts";
import { append } from "../../test/auditHistory.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

// Two patients, P and Q, registered by user U in one request (correlation C).
const P = randomUUID();
const Q = randomUUID();
const U = randomUUID();
const C = randomUUID();
let pCreated: string;
let start: string;

beforeAll(async () => {
  start = new Date(Date.now() - 1000).toISOString();
  [pCreated] = (await append(
    db,
    [exampleEvent("patient.created", { patientId: P }), exampleEvent("patient.created", { patientId: Q })],
    { userId: U, correlationId: C },
  )) as [string, string];
});

/** The accesses this auditor has left in the history: which patient each names, and how it read. */
async function accessesOf(auditor: Caller) {
  const { rows } = await db.$client.query<{ patientId: string | null; action: string }>(
    `SELECT patient_id::text AS "patientId", payload::jsonb -> 'data' ->> 'action' AS action
       FROM outbox
      WHERE event_type = 'audit.data.accessed' AND payload::jsonb -> 'data' ->> 'actorId' = $1
      ORDER BY tx_id, position`,
    [auditor.userId],
  );
  return rows;
}

async function get(auditor: Caller, path: string) {
  const response = await app.request(path, { headers: auditor.headers() });
  expect(response.status, await response.clone().text()).toBe(200);
  return response.text();
}

const byPatient = (rows: Array<{ patientId: string | null }>) =>
  rows.map((row) => row.patientId ?? "nobody").sort();

describe("an auditor's read names every patient whose events it returned", () => {
  it.each([
    ["correlation id", { correlationId: C }],
    ["acting user", { userId: U }],
  ])("by %s: one SEARCH access for each of the patients", async (_, filter) => {
    const auditor = await caller("auditor");
    await get(auditor, `/audit/events?${new URLSearchParams(filter)}`);
    const accesses = await accessesOf(auditor);
    expect(byPatient(accesses)).toEqual([P, Q].sort());
    expect(accesses.map((access) => access.action)).toEqual(["SEARCH", "SEARCH"]);
  });

  it("by aggregate: the one patient it is about", async () => {
    const auditor = await caller("auditor");
    await get(auditor, `/audit/events?aggregateType=patient&aggregateId=${P}`);
    expect(byPatient(await accessesOf(auditor))).toEqual([P]);
  });

  it("by event type: every patient on the page, both of these among them", async () => {
    const auditor = await caller("auditor");
    const body = await get(auditor, `/audit/events?eventType=patient.created&from=${start}&limit=1000`);
    const returned = new Set(
      (JSON.parse(body) as { events: Array<{ envelope: { data: { patientId: string } } }> }).events.map(
        (found) => found.envelope.data.patientId,
      ),
    );
    const named = byPatient(await accessesOf(auditor));
    expect(named).toEqual([...returned].sort());
    expect(named).toEqual(expect.arrayContaining([P, Q]));
  });

  it("one event: its patient", async () => {
    const auditor = await caller("auditor");
    await get(auditor, `/audit/events/${pCreated}`);
    expect(await accessesOf(auditor)).toEqual([{ patientId: P, action: "READ" }]);
  });

  it("an export: the query, then each patient before their events are sent", async () => {
    const auditor = await caller("auditor");
    for (const format of ["ndjson", "csv"]) {
      const exported = await get(auditor, `/audit/events/export?correlationId=${C}&format=${format}`);
      expect(exported).toContain(P);
    }
    const accesses = await accessesOf(auditor);
    expect(accesses.every((access) => access.action === "EXPORT")).toBe(true);
    expect(byPatient(accesses)).toEqual(["nobody", "nobody", P, P, Q, Q].sort());
    // Each export records the query itself first, before any event has left.
    expect(accesses[0]?.patientId).toBeNull();
  });

  it("paged to its end, reaches it: a later page of records of access alone records nothing", async () => {
    // A patient of this test's own, with two events: pages of one event each.
    const R = randomUUID();
    await append(db, [
      exampleEvent("patient.created", { patientId: R }),
      exampleEvent("patient.updated", { patientId: R }),
    ]);
    const auditor = await caller("auditor");
    const pages: string[][] = [];
    let cursor: string | undefined;
    // Bounded: recording the accesses to access records made every page as long as the last, without end.
    while (pages.length < 10) {
      const query = new URLSearchParams({ patientId: R, limit: "1", ...(cursor ? { cursor } : {}) });
      const page = JSON.parse(await get(auditor, `/audit/events?${query}`)) as {
        events: Array<{ eventId: string; eventType: string }>;
        nextCursor: string;
      };
      pages.push(page.events.map((event) => event.eventType));
      if (page.events.length < 1) break;
      cursor = page.nextCursor;
    }
    // Its two events, each page recording R; then those two records, which record nothing; then the end.
    expect(pages).toEqual([
      ["patient.created"],
      ["patient.updated"],
      ["audit.data.accessed"],
      ["audit.data.accessed"],
      [],
    ]);
    expect(await accessesOf(auditor)).toEqual([
      { patientId: R, action: "SEARCH" },
      { patientId: R, action: "SEARCH" },
    ]);
  });

  it("a query that returned nobody's events: one access naming nobody", async () => {
    const auditor = await caller("auditor");
    await get(auditor, `/audit/events?correlationId=${randomUUID()}`);
    expect(await accessesOf(auditor)).toEqual([{ patientId: null, action: "SEARCH" }]);
  });
});

// An event type or aggregate type the catalog does not list (`patient.create`, `Patient`) was answered with an
// empty page, and an empty export, which an auditor reads as "nothing of the kind happened": it is a 400 naming
// the parameter, and records no access. One the catalog lists is a filter, whether the history holds any or not.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { exampleEvent } from "../../events/examples.ts";
import { append } from "../../test/auditHistory.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const outboxRows = async () => Number((await db.$client.query("SELECT count(*) AS n FROM outbox")).rows[0].n);

async function query(path: string, filters: Record<string, string>) {
  const auditor = await caller("auditor");
  return app.request(`${path}?${new URLSearchParams(filters)}`, { headers: auditor.headers() });
}

describe("a filter naming a kind of event or aggregate", () => {
  it("is refused, naming it, when the catalog does not list it; nothing is recorded", async () => {
    await append(db, [exampleEvent("patient.created")]);
    for (const path of ["/audit/events", "/audit/events/export"]) {
      for (const [filters, field, message] of [
        [{ eventType: "patient.create" }, "query.eventType", /^is no event type the catalog lists/],
        [{ eventType: "Patient.Created" }, "query.eventType", /^is no event type the catalog lists/],
        [
          { aggregateType: "Patient" },
          "query.aggregateType",
          /^is no aggregate type the catalog lists \(patient, /,
        ],
      ] as const) {
        const before = await outboxRows();
        const response = await query(path, filters);
        expect(response.status, `${path} ${JSON.stringify(filters)}`).toBe(400);
        expect(((await response.json()) as { errors: unknown }).errors).toEqual([
          { field, message: expect.stringMatching(message) },
        ]);
        expect(await outboxRows()).toBe(before);
      }
    }
  });

  it("is a filter when the catalog lists it, whether the history holds events of it or none", async () => {
    const patientId = randomUUID();
    const [created] = await append(db, [exampleEvent("patient.created", { patientId })]);
    const page = async (filters: Record<string, string>) => {
      const response = await query("/audit/events", filters);
      expect(response.status, JSON.stringify(filters)).toBe(200);
      return ((await response.json()) as { events: { eventId: string }[] }).events.map(
        (event) => event.eventId,
      );
    };
    expect(await page({ eventType: "patient.created", patientId })).toEqual([created]);
    expect(await page({ eventType: "ai.insight.created", patientId })).toEqual([]);
    expect(await page({ aggregateType: "patient", aggregateId: patientId })).toEqual([created]);
    expect(await page({ aggregateType: "insight", aggregateId: patientId })).toEqual([]);
  });
});

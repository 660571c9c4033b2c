// GET /audit/events/export streams what a query matches, over several keyset pages: NDJSON with each stored
// envelope verbatim, and CSV quoted so that envelopes (commas, quotes) and line breaks survive a round trip;
// each ends with the completion line that only a whole export carries.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleEvent } from "../../events/examples.ts";
import { append, historyReadable } from "../../test/auditHistory.ts";
import { parseCsv } from "../../test/csv.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";
import { csvField } from "./exportFormats.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const EVENTS = 2_500; // more than one export page (1,000)
const patientId = randomUUID();
const userId = randomUUID();
let written: string[];
let auditor: Caller;

beforeAll(async () => {
  auditor = await caller("auditor");
  const accesses = Array.from({ length: EVENTS - 1 }, (_, i) =>
    exampleEvent("audit.data.accessed", {
      actorId: userId,
      actorRole: "PROVIDER",
      resourceType: "patient",
      resourceId: `patient, "${i}"\nline two`,
      patientId,
      action: "READ",
      fields: null,
    }),
  );
  written = await append(db, [exampleEvent("patient.created", { patientId }), ...accesses], { userId });
  await historyReadable(db, { column: "patient_id", value: patientId });
});

async function exported(format: string) {
  const response = await app.request(
    `/audit/events/export?patientId=${patientId}&userId=${userId}&format=${format}`,
    {
      headers: auditor.headers(),
    },
  );
  expect(response.status).toBe(200);
  return { contentType: response.headers.get("Content-Type"), body: await response.text() };
}

describe("exporting the history", () => {
  it("streams NDJSON: one line per event, in order, each envelope as stored, then the completion line", async () => {
    const { contentType, body } = await exported("ndjson");
    expect(contentType).toMatch(/^application\/x-ndjson/);
    expect(body.endsWith(`\n{"exportComplete":true,"events":${EVENTS}}\n`)).toBe(true);
    const lines = body.trimEnd().split("\n").slice(0, -1);
    const events = lines.map((line) => JSON.parse(line));
    expect(events.map((one) => one.eventId)).toEqual(written);
    const stored = await db.$client.query<{ payload: string }>(
      "SELECT payload::text AS payload FROM outbox WHERE event_id = $1",
      [written[1]],
    );
    expect(lines[1]).toContain(`"envelope":${stored.rows[0]?.payload}}`);
    expect(events[0]).toMatchObject({
      eventType: "patient.created",
      aggregate: { type: "patient", id: patientId },
      version: 1,
      envelope: { data: { patientId }, metadata: { userId } },
    });
  });

  it("streams CSV with a header, quoting fields that hold commas, quotes or line breaks, then the completion row", async () => {
    const { contentType, body } = await exported("csv");
    expect(contentType).toMatch(/^text\/csv/);
    expect(body.endsWith(`\r\n# export complete: ${EVENTS} events,,,,,,,,,,\r\n`)).toBe(true);
    const [header, ...rowsAndCompletion] = parseCsv(body);
    const rows = rowsAndCompletion.slice(0, -1);
    expect(rowsAndCompletion.at(-1)).toEqual([`# export complete: ${EVENTS} events`, ...Array(10).fill("")]);
    expect(header).toEqual([
      "eventId",
      "position",
      "eventType",
      "aggregateType",
      "aggregateId",
      "version",
      "createdAt",
      "correlationId",
      "userId",
      "patientId",
      "envelope",
    ]);
    expect(rows.map((row) => row[0])).toEqual(written);
    expect(rows.every((row) => row.length === 11)).toBe(true);
    const envelope = JSON.parse(rows[7]?.[10] ?? "");
    expect(envelope.data.resourceId).toBe(`patient, "6"\nline two`);
    expect(rows[0]?.slice(2, 6)).toEqual(["patient.created", "patient", patientId, "1"]);
    expect(rows[1]?.[5], "no version for audit events").toBe("");
  });

  it("quotes a CSV field only when it must", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField('a "b", c')).toBe('"a ""b"", c"');
    expect(csvField("two\nlines")).toBe('"two\nlines"');
  });
});

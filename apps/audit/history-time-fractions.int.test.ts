// GET /audit/events and its export take from and to with any fraction up to nine digits (Python's isoformat
// writes six, Go's RFC3339Nano up to nine) and select exactly the events Postgres holds on either side of
// them: created_at holds microseconds, a Date milliseconds, and Postgres rounds a nine-digit time to the nearest
// microsecond. So a bound a nanosecond after an event's time excludes it as from and includes it as to, and a
// cursor names its query to the nanosecond. Before, six or nine digits were a 400.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleEvent } from "../../events/examples.ts";
import { instantText, microsecondBound, readInstant } from "../../events/instant.ts";
import {
  type AuditedEvent,
  append,
  auditPage,
  historyReadable,
  isAuditorAccess,
} from "../../test/auditHistory.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const P = randomUUID();
let auditor: Caller;
let first: string;
let second: string;
let firstAt: bigint;
/** The second event's created_at as stored, to the microsecond: `…ss.ffffffZ`. */
let secondAt: string;

beforeAll(async () => {
  auditor = await caller("auditor");
  // Two transactions: each event's created_at is its transaction's start, so the second is the later.
  [first] = (await append(db, [exampleEvent("patient.created", { patientId: P })])) as [string];
  [second] = (await append(db, [
    exampleEvent("appointment.booked", { appointmentId: randomUUID(), patientId: P }),
  ])) as [string];
  const { rows } = await db.$client.query<{ eventId: string; at: string }>(
    `SELECT event_id::text AS "eventId",
            to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
       FROM outbox WHERE event_id = ANY($1::uuid[]) ORDER BY position`,
    [[first, second]],
  );
  expect(rows.map((row) => row.eventId)).toEqual([first, second]);
  const [firstStored, secondStored] = rows.map((row) => nanoseconds(row.at)) as [bigint, bigint];
  // At least a microsecond apart, so that a bound a nanosecond either side of the second sits between them.
  expect(secondStored - firstStored >= 1_000n).toBe(true);
  firstAt = firstStored;
  secondAt = (rows[1] as { at: string }).at;
  await historyReadable(db, { column: "patient_id", value: P });
});

function nanoseconds(text: string): bigint {
  const { instant, problem } = readInstant(text);
  if (!instant) throw new Error(`${text}: ${problem}`);
  return instant.epochNanoseconds;
}

/** The second event's stored time moved by `delta` nanoseconds, written with nine fraction digits. */
function secondAtPlus(delta: bigint): string {
  const text = instantText({ epochNanoseconds: nanoseconds(secondAt) + delta });
  expect(text).toMatch(/\.[0-9]{9}Z$/);
  return text;
}

/** The same instant at +05:30, as a client in India may write it. */
function inIndia(text: string): string {
  const utc = nanoseconds(text);
  const local = instantText({ epochNanoseconds: utc + 19_800n * 1_000_000_000n });
  return local.replace(/Z$/, "+05:30");
}

async function matching(filters: Record<string, string>) {
  const page = await auditPage(app, auditor, { patientId: P, ...filters });
  return page.events.filter((event) => !isAuditorAccess(event)).map((event) => event.eventId);
}

describe("the auditor's time filters, finer than a millisecond", () => {
  it("select at the stored microsecond: a nanosecond after an event's time excludes it as from", async () => {
    // Six digits, as stored, and as Python writes them (+00:00).
    expect(await matching({ from: secondAt })).toEqual([second]);
    expect(await matching({ from: secondAt.replace("Z", "+00:00") })).toEqual([second]);
    // Nine digits: rounded to the nearest microsecond (Postgres), or cut to the millisecond (a Date), the
    // instant a nanosecond after would include the event.
    expect(await matching({ from: secondAtPlus(1n) })).toEqual([]);
    expect(await matching({ from: inIndia(secondAtPlus(1n)) })).toEqual([]);
    expect(await matching({ from: secondAtPlus(-1n) })).toEqual([second]);
    expect(await matching({ from: secondAtPlus(999n) })).toEqual([]);
  });

  it("and includes it as to (exclusive) from a nanosecond after it on", async () => {
    expect(await matching({ to: secondAt })).toEqual([first]);
    expect(await matching({ to: secondAtPlus(-1n) })).toEqual([first]);
    // Rounded to the nearest microsecond, or cut, this bound would be the event's own time and exclude it.
    expect(await matching({ to: secondAtPlus(1n) })).toEqual([first, second]);
    expect(await matching({ to: inIndia(secondAtPlus(1n)) })).toEqual([first, second]);
    expect(await matching({ from: secondAtPlus(-1n), to: secondAtPlus(1n) })).toEqual([second]);
  });

  it("select the same in an export", async () => {
    const exported = async (from: string) => {
      const response = await app.request(
        `/audit/events/export?${new URLSearchParams({ patientId: P, from })}`,
        { headers: auditor.headers() },
      );
      expect(response.status).toBe(200);
      const lines = (await response.text()).trimEnd().split("\n").slice(0, -1);
      return lines
        .map((line) => JSON.parse(line) as AuditedEvent)
        .filter((event) => !isAuditorAccess(event))
        .map((event) => event.eventId);
    };
    expect(await exported(secondAtPlus(-1n))).toEqual([second]);
    expect(await exported(secondAtPlus(1n))).toEqual([]);
  });

  it("page on with a cursor of the same query, named to the nanosecond; a cursor of another is refused", async () => {
    const from = instantText({ epochNanoseconds: firstAt - 1n });
    const firstPage = await auditPage(app, auditor, { patientId: P, from, limit: "1" });
    expect(firstPage.events.map((event) => event.eventId)).toEqual([first]);
    const next = await auditPage(app, auditor, { patientId: P, from, cursor: firstPage.nextCursor });
    expect(next.events.filter((event) => !isAuditorAccess(event)).map((event) => event.eventId)).toEqual([
      second,
    ]);
    // A nanosecond earlier is another query, though it selects the same rows.
    const earlier = instantText({ epochNanoseconds: firstAt - 2n });
    const other = await app.request(
      `/audit/events?${new URLSearchParams({ patientId: P, from: earlier, cursor: firstPage.nextCursor })}`,
      { headers: auditor.headers() },
    );
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ errors: [{ field: "query.cursor" }] });
  });

  it("are bounds Postgres reads as the microsecond they name, past the last one of 9999 too", async () => {
    const bounds = [
      microsecondBound({ epochNanoseconds: nanoseconds(secondAt) + 1n }, "up"),
      microsecondBound({ epochNanoseconds: nanoseconds("9999-12-31T23:59:59.999999001Z") }, "up"),
    ];
    expect(bounds[1]).toBe("10000-01-01T00:00:00.000000Z");
    for (const bound of bounds) {
      const { rows } = await db.$client.query<{ read: string }>(
        `SELECT to_char($1::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS read`,
        [bound],
      );
      expect(rows[0]?.read).toBe(bound);
    }
  });

  it("refuse a fraction of more than nine digits, naming the parameter", async () => {
    const response = await app.request(
      `/audit/events?${new URLSearchParams({ patientId: P, from: `${secondAt.slice(0, -1)}0000Z` })}`,
      { headers: auditor.headers() },
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      errors: [{ field: "query.from", message: expect.stringContaining("at most 9 digits") }],
    });
  });
});

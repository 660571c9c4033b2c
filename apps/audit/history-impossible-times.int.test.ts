// An event whose created_at an administrator set to a time no answer can name (`infinity`, a year past 9999 or
// before 1; the write path stamps the commit's clock, never such a time). The history page and the event's own
// answer refuse with a 500 that names the row, rather than an anonymous one or another time; the rest of the
// history is still read around it with from and to; the export is cut off, without its completion line. Each
// case in a database of its own.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabases } from "../../test/auditHistories.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const databases = freshDatabases("impossible_times");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

/** Every time an answer can name: years 0001 to 9999, UTC. */
const AROUND = "from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59.999999Z";

describe("an event whose created_at is no time the write path stamps", () => {
  it.each([
    "infinity",
    "-infinity",
    "10000-01-01 00:00:00+00",
    "294276-12-31 23:59:59+00",
    "0001-12-31 23:59:59+00 BC",
  ])("is refused by name when it is %s, and the history is read around it", async (stored) => {
    const history = await databases.create();
    await history.begin();
    const rows = await history.rows();
    const victim = rows[1];
    await (await history.admin()).query(
      "UPDATE outbox SET created_at = $1::timestamptz WHERE position = $2",
      [stored, victim?.position],
    );
    const app = testPlatform(history.db);
    const auditor = await caller("auditor");
    const get = (path: string) => app.request(path, { headers: auditor.headers() });

    const refusal = {
      status: 500,
      title: "Internal Server Error",
      detail: `The history's row at position ${victim?.position} (event ${victim?.eventId}) holds a created_at that is no time the write path stamps: it was changed outside it. GET /audit/verify names it; filters (from, to, an aggregate) read around it.`,
    };
    const page = await get("/audit/events?limit=1000");
    expect(page.status).toBe(500);
    expect(await page.json()).toMatchObject(refusal);
    const one = await get(`/audit/events/${victim?.eventId}`);
    expect(one.status).toBe(500);
    expect(await one.json()).toMatchObject(refusal);

    const around = await get(`/audit/events?limit=1000&${AROUND}`);
    expect(around.status).toBe(200);
    const { events } = (await around.json()) as { events: Array<{ eventId: string }> };
    const others = rows.filter((row) => row.eventId !== victim?.eventId).map((row) => row.eventId);
    expect(events.map((event) => event.eventId).slice(0, others.length)).toEqual(others);
    expect((await get(`/audit/events/${rows[0]?.eventId}`)).status).toBe(200);

    const exported = await get("/audit/events/export?format=ndjson");
    expect(exported.status).toBe(200);
    await expect(exported.text()).rejects.toThrow(/failed after 0 events were sent; it was cut off/);
    await history.close();
  });
});

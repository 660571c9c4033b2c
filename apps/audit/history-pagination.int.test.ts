// Paging through a patient's history while other transactions keep writing to it (several at once, so they
// commit out of transaction-id order): the pages, put together, hold every committed event exactly once,
// in (tx_id, position) order, with nothing skipped behind a cursor.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { exampleEvent } from "../../events/examples.ts";
import {
  type AuditedEvent,
  append,
  auditAll,
  auditPage,
  historyReadable,
  isAuditorAccess,
} from "../../test/auditHistory.ts";
import { testDatabase, testEventContext } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const accessOf = (patientId: string) =>
  exampleEvent("audit.data.accessed", {
    actorId: randomUUID(),
    actorRole: "ADMIN",
    resourceType: "patient",
    resourceId: patientId,
    patientId,
    action: "READ",
    fields: null,
  });

describe("paging through the history while it grows", () => {
  it("returns every event exactly once, in order, while 4 writers append concurrently", async () => {
    const auditor = await caller("auditor");
    const patientId = randomUUID();
    const written: string[] = [];
    for (let i = 0; i < 30; i++) written.push(...(await append(db, [accessOf(patientId)])));

    let writing = true;
    const writer = async () => {
      while (writing) {
        // Audit events take no aggregate lock, and each transaction sleeps a random while after its insert:
        // transactions overlap and commit in another order than their ids.
        const ids = await writeTransaction(db, async (tx) => {
          const appended = await appendEvents(tx, testEventContext(), [
            accessOf(patientId),
            accessOf(patientId),
          ]);
          await tx.execute(sql`SELECT pg_sleep(random() * 0.03)`);
          return appended.map((one) => one.eventId);
        });
        written.push(...ids);
      }
    };
    const writers = Array.from({ length: 4 }, writer);

    const seen: AuditedEvent[] = [];
    let cursor: string | undefined;
    let pages = 0;
    let writersStopped = false;
    for (;;) {
      const page = await auditPage(app, auditor, { patientId, limit: "7", ...(cursor ? { cursor } : {}) });
      seen.push(...page.events);
      cursor = page.nextCursor;
      pages++;
      if (pages === 60) {
        writing = false;
        await Promise.all(writers);
        writersStopped = true;
      }
      // Every committed event must show up, once the transactions older than it have ended.
      if (writersStopped && written.every((id) => seen.some((one) => one.eventId === id))) break;
      if (pages > 2_000) throw new Error("the pages never caught up with the writers");
    }

    const ids = seen.map((one) => one.eventId);
    expect(new Set(ids).size, "no event twice").toBe(ids.length);
    // The history read in one go afterwards is exactly what the pages returned, up to the last event they saw.
    const everything = await auditAll(app, auditor, { patientId });
    const upToLastSeen = everything.slice(0, everything.findIndex((one) => one.eventId === ids.at(-1)) + 1);
    expect(ids, "no gap, same order").toEqual(upToLastSeen.map((one) => one.eventId));
    for (const id of written) expect(ids, "every committed event was paged").toContain(id);
    expect(
      seen.filter(isAuditorAccess).length,
      "the pages' own access records are part of it",
    ).toBeGreaterThan(0);
    expect(written.length).toBeGreaterThan(30);
  });
});

describe("a cursor", () => {
  it("is taken back only as it was returned: any other spelling of it is a 400 naming query.cursor", async () => {
    const auditor = await caller("auditor");
    const patientId = randomUUID();
    await append(db, [accessOf(patientId)]);
    await append(db, [accessOf(patientId)]);
    const { nextCursor } = await auditPage(app, auditor, { patientId, limit: "1" });
    const next = await auditPage(app, auditor, { patientId, limit: "1", cursor: nextCursor });
    expect(next.events).toHaveLength(1);
    // Node's base64url decoder skips what is not base64url, so these all decoded to the same cursor.
    const standardBase64 = Buffer.from(nextCursor, "base64url").toString("base64");
    for (const altered of [`${nextCursor}!!!!`, `${nextCursor}==`, `=${nextCursor}`, `${standardBase64}`]) {
      if (altered === nextCursor) continue;
      const response = await app.request(
        `/audit/events?${new URLSearchParams({ patientId, cursor: altered })}`,
        {
          headers: auditor.headers(),
        },
      );
      expect(response.status, altered).toBe(400);
      const { errors } = (await response.json()) as { errors: Array<{ field: string }> };
      expect(errors.map((error) => error.field)).toEqual(["query.cursor"]);
    }
  });

  it("is taken back only with the filters of the page that returned it: with others it is a 400, not a page that skips", async () => {
    const auditor = await caller("auditor");
    const [patientId, other] = [randomUUID(), randomUUID()];
    const [first] = await append(db, [accessOf(other)]);
    await append(db, [accessOf(patientId)]);
    await append(db, [accessOf(patientId)]);
    await historyReadable(db, { column: "patient_id", value: patientId });
    // A cursor from the patient's query, past the other patient's first event.
    const { nextCursor, events } = await auditPage(app, auditor, { patientId, limit: "1" });
    expect(events).toHaveLength(1);
    const elsewhere = await app.request(
      `/audit/events?${new URLSearchParams({ patientId: other, cursor: nextCursor })}`,
      { headers: auditor.headers() },
    );
    // Read with the other patient's filter, it would start after their first event and never show it.
    expect(elsewhere.status).toBe(400);
    expect(await elsewhere.json()).toMatchObject({
      errors: [{ field: "query.cursor", message: expect.stringContaining("another query") }],
    });
    const otherFilters: Record<string, string>[] = [
      {},
      { patientId, eventType: "audit.data.accessed" },
      { patientId, from: "2000-01-01T00:00:00Z" },
    ];
    for (const filters of otherFilters) {
      const response = await app.request(
        `/audit/events?${new URLSearchParams({ ...filters, cursor: nextCursor })}`,
        {
          headers: auditor.headers(),
        },
      );
      expect(response.status, JSON.stringify(filters)).toBe(400);
    }
    // The same query, the page size aside, and its ids in another case, takes it.
    const next = await auditPage(app, auditor, {
      patientId: patientId.toUpperCase(),
      limit: "5",
      cursor: nextCursor,
    });
    expect(next.events.length).toBeGreaterThan(0);
    expect((await auditAll(app, auditor, { patientId: other })).map((one) => one.eventId)).toContain(first);
  });
});

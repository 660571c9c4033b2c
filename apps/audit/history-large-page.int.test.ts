// A page of GET /audit/events whose envelopes are more than a chunk (HISTORY_CHUNK_BYTES) is read a chunk at a
// time and streamed: the client gets the same JSON, the same events in the same order, as from smaller pages,
// and the process never holds the page whole. historyEventsAt reads exactly the places it is given, in chunks
// within the budget, and refuses to answer short when the history no longer holds one of them.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { exampleEvent } from "../../events/examples.ts";
import { append, auditPage, historyReadable } from "../../test/auditHistory.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";
import { HISTORY_CHUNK_BYTES, historyEventsAt, historyPlaces, START_OF_HISTORY } from "./sql/historyPage.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

/** An alert with a thousand evidence ids: about 40 KB of envelope. */
const largeAlert = () =>
  exampleEvent("audit.compliance.alert", {
    rule: "many-patients-read",
    principal: { kind: "actor", id: randomUUID() },
    window: { start: "2024-01-15T09:00:00Z", end: "2024-01-15T09:42:10Z" },
    threshold: 50,
    observed: 1000,
    evidenceEventIds: Array.from({ length: 1000 }, () => randomUUID()),
  });

async function writeLargeHistory(events: number) {
  const correlationId = randomUUID();
  const written: string[] = [];
  for (let i = 0; i < events; i += 10) {
    written.push(...(await append(db, Array.from({ length: 10 }, largeAlert), { correlationId })));
  }
  await historyReadable(db, { column: "correlation_id", value: correlationId });
  return { correlationId, written };
}

describe("a page larger than a chunk", () => {
  it("is streamed whole: the events of two smaller pages, in order, with the same cursor after them", async () => {
    const auditor = await caller("auditor");
    const { correlationId, written } = await writeLargeHistory(40);
    const { rows } = await db.$client.query<{ bytes: number }>(
      "SELECT sum(octet_length(payload::text))::int AS bytes FROM outbox WHERE correlation_id = $1",
      [correlationId],
    );
    expect(rows[0]?.bytes).toBeGreaterThan(HISTORY_CHUNK_BYTES);

    const whole = await auditPage(app, auditor, { correlationId, limit: "1000" });
    expect(whole.events.map((event) => event.eventId)).toEqual(written);
    expect(whole.events.every((event) => event.envelope.eventId === event.eventId)).toBe(true);

    const first = await auditPage(app, auditor, { correlationId, limit: "20" });
    const second = await auditPage(app, auditor, { correlationId, limit: "20", cursor: first.nextCursor });
    expect([...first.events, ...second.events]).toEqual(whole.events);
    expect(second.nextCursor).toBe(whole.nextCursor);
    const after = await auditPage(app, auditor, { correlationId, limit: "1000", cursor: whole.nextCursor });
    expect(after.events).toEqual([]);
  });

  it("is sent as it is read, without an entity tag, which only the whole body could give", async () => {
    const auditor = await caller("auditor");
    const { correlationId } = await writeLargeHistory(40);
    const query = new URLSearchParams({ correlationId, limit: "1000" });
    const response = await app.request(`/audit/events?${query}`, { headers: auditor.headers() });
    expect(response.status).toBe(200);
    expect(response.headers.get("etag")).toBeNull();
    // Held whole to be tagged, the page came as one chunk of all its bytes; streamed, a chunk of envelopes at a time.
    const chunks: number[] = [];
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read())
      chunks.push(read.value.length);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks[0]).toBeLessThan(chunks.reduce((sum, bytes) => sum + bytes, 0));

    // A page within one chunk is held whole, and tagged.
    const small = await app.request(`/audit/events?${new URLSearchParams({ correlationId, limit: "2" })}`, {
      headers: auditor.headers(),
    });
    expect(small.headers.get("etag")).toMatch(/^"/);
  });

  it("is read in chunks within the budget, of exactly the places given, or not at all", async () => {
    const { correlationId, written } = await writeLargeHistory(20);
    const filter = { correlationId };
    const places = await historyPlaces(db.$client, filter, START_OF_HISTORY, 1000);
    expect(places).toHaveLength(20);

    const budget = 3 * (places[0]?.bytes ?? 0);
    const chunks: string[][] = [];
    for await (const events of historyEventsAt(db.$client, filter, START_OF_HISTORY, places, budget)) {
      chunks.push(events.map((event) => event.eventId));
      const bytes = events.reduce((sum, event) => sum + Buffer.byteLength(event.envelope), 0);
      expect(bytes).toBeLessThanOrEqual(budget);
    }
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.flat()).toEqual(written);

    // A place the history does not hold (as if archived while the page was read) is a failure, not a short page.
    const missing = places.map((place, i) => (i === 5 ? { ...place, txId: "1" } : place));
    const reading = (async () => {
      for await (const _ of historyEventsAt(db.$client, filter, START_OF_HISTORY, missing, budget));
    })();
    await expect(reading).rejects.toThrow("the history changed while a page was read");
  });
});

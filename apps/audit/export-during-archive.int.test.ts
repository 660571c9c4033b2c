// An export is one cut of the history, or visibly cut off: archiving is the one change the outbox's rows ever
// see (it deletes them), and an archive committed while an export streams must not leave a gap in it. One
// whose cut lies beyond what the export has read breaks the export off, without its completion line; one
// whose cut lies within what it has already sent changes nothing of it. The export is read in process, a page
// at a time (nothing is read ahead of the client), so that the archive commits between two given pages.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { archiveHistory } from "../../audit/archiveHistory.ts";
import { DEFAULT_AUDIT_RETENTION_DAYS } from "../../config/env.ts";
import { exampleEvent } from "../../events/examples.ts";
import { createLogger } from "../../observability/logger.ts";
import { freshDatabases, type TestHistory, testKey } from "../../test/auditHistories.ts";
import { append, historyReadable } from "../../test/auditHistory.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";
import { ExportInterrupted } from "./exportStream.ts";

// Archiving removes the oldest history of the whole outbox: each test in a database of its own.
const databases = freshDatabases("export_archive");
const EVENTS = 2_500; // three export pages of 1,000
const logLines: string[] = [];
const log = createLogger({ level: "debug", destination: { write: (line: string) => logLines.push(line) } });
let auditor: Caller;
let opened: TestHistory | undefined;
let directory: string;

beforeAll(async () => {
  await databases.setUp();
  auditor = await caller("auditor");
});
afterEach(async () => {
  await opened?.close();
  opened = undefined;
  await rm(directory, { recursive: true, force: true });
});
afterAll(() => databases.tearDown());

/** A database of its own, and a directory of its own for its archives. */
async function newHistory(): Promise<TestHistory> {
  directory = await mkdtemp(join(tmpdir(), "export-archive-"));
  opened = await databases.create();
  return opened;
}

/** `count` events of one request, written in one transaction; their event ids. */
const write = (target: TestHistory, count: number) =>
  append(
    target.db,
    Array.from({ length: count }, () => exampleEvent("audit.data.accessed", { patientId: null })),
  );

/** Archives every sealed event, as `npm run audit:archive` would once they are past the retention period. */
async function archiveSealed(target: TestHistory) {
  await target.relayed();
  const client = await target.connection();
  try {
    const outcome = await archiveHistory(client, testKey, {
      retentionDays: DEFAULT_AUDIT_RETENTION_DAYS,
      directory,
      now: new Date(Date.now() + (DEFAULT_AUDIT_RETENTION_DAYS + 1) * 86_400_000),
    });
    if (outcome.archived === null) throw new Error(`nothing archived: ${outcome.reason}`);
    return outcome.archived;
  } finally {
    client.release();
  }
}

/** The NDJSON export's body, a pull at a time: the first page, then the rest (or the error that ended it). */
async function startExport(target: TestHistory) {
  const app = testPlatform(target.db, { log });
  const response = await app.request("/audit/events/export?format=ndjson", { headers: auditor.headers() });
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let received = "";
  return {
    firstPage: async () => {
      const { value } = await reader.read();
      received += decoder.decode(value, { stream: true });
      return received;
    },
    rest: async (): Promise<{ body: string; failure: unknown }> => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return { body: received, failure: null };
          received += decoder.decode(value, { stream: true });
        }
      } catch (failure) {
        return { body: received, failure };
      }
    },
  };
}

const eventIdsIn = (body: string) =>
  body
    .split("\n")
    .filter((line) => line.startsWith('{"eventId"'))
    .map((line) => JSON.parse(line).eventId as string);

describe("an archive committed while an export streams", () => {
  it("breaks the export off, without its completion line, when it archived events the export had not yet sent", async () => {
    const history = await newHistory();
    const written = await write(history, EVENTS);
    await history.seal();
    await historyReadable(history.db);

    const exported = await startExport(history);
    expect(eventIdsIn(await exported.firstPage())).toEqual(written.slice(0, 1000));
    const archived = await archiveSealed(history);
    expect(archived.rowCount).toBe(EVENTS);

    const { body, failure } = await exported.rest();
    // Read on, it would have ended with `{"exportComplete":true,"events":1000}`: a whole-looking export of
    // two fifths of the history.
    expect(failure).toBeInstanceOf(ExportInterrupted);
    expect(body).not.toContain("exportComplete");
    expect(eventIdsIn(body)).toEqual(written.slice(0, 1000));
    expect((await history.rows()).filter((row) => written.includes(row.eventId))).toEqual([]);
    // The operator reads why in the log: the error's kind, and how far the export had come.
    const reports = logLines.map((line) => JSON.parse(line)).filter((entry) => entry.err !== undefined);
    expect(reports).toMatchObject([{ err: { type: "ArchivedWhileExporting" }, eventsSent: 1000 }]);
  });

  it("changes nothing of the export when it archived only events the export had already sent", async () => {
    const history = await newHistory();
    const sealed = await write(history, 500);
    await history.seal();
    const unsealed = await write(history, EVENTS - 500);
    await historyReadable(history.db);

    const exported = await startExport(history);
    expect(eventIdsIn(await exported.firstPage())).toHaveLength(1000);
    const archived = await archiveSealed(history);
    expect(archived.rowCount).toBe(500);

    const { body, failure } = await exported.rest();
    expect(failure).toBeNull();
    expect(body.endsWith(`\n{"exportComplete":true,"events":${EVENTS}}\n`)).toBe(true);
    expect(eventIdsIn(body)).toEqual([...sealed, ...unsealed]);
  });
});

describe("an archived event asked for by its id", () => {
  it("is a 404 that says which archive moved it out, where an event never written is a plain one", async () => {
    const history = await newHistory();
    const [archivedId] = await write(history, 3);
    await history.seal();
    await historyReadable(history.db);
    const archived = await archiveSealed(history);
    const app = testPlatform(history.db, { log });
    const answer = await app.request(`/audit/events/${archivedId}`, { headers: auditor.headers() });
    expect(answer.status).toBe(404);
    expect(await answer.json()).toMatchObject({
      detail: `The event ${archivedId} was archived: archive ${archived.sequence} moved it out of the outbox into its file, which npm run audit:verify-archive checks.`,
    });
    const unknown = crypto.randomUUID();
    const never = await app.request(`/audit/events/${unknown}`, { headers: auditor.headers() });
    expect(never.status).toBe(404);
    expect(await never.json()).toMatchObject({ detail: `No event has the id ${unknown}.` });
  });
});

// An export that fails after its 200 has gone out never looks whole: over the wire the chunked body is broken
// off without its last chunk, in process the body's stream errors, and neither carries the completion line.
// The failure is a real one of Postgres: a row whose payload it stores as json but cannot read as jsonb (a
// \u0000 escape), as a damaged or tampered row would be, on the export's second page.
import { randomUUID } from "node:crypto";
import { get } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exampleEvent } from "../../events/examples.ts";
import { createLogger } from "../../observability/logger.ts";
import { append, historyReadable } from "../../test/auditHistory.ts";
import { ownDatabase } from "../../test/ownDatabase.ts";
import { type ServedApp, serveApp } from "../../test/servedApp.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";
import { ExportInterrupted } from "./exportStream.ts";

// The test damages a row and drops an index: in a database of its own.
const database = ownDatabase("export_interrupted");
const logLines: string[] = [];
const log = createLogger({ level: "debug", destination: { write: (line: string) => logLines.push(line) } });
const EVENTS = 2_500; // three pages of 1,000
const DAMAGED = 1_500; // on the second page
const patientId = randomUUID();
let written: string[];
let auditor: Caller;
let server: ServedApp;
let base: string;

beforeAll(async () => {
  await database.setUp();
  const db = database.db;
  auditor = await caller("auditor");
  written = await append(db, [
    exampleEvent("patient.created", { patientId }),
    ...Array.from({ length: EVENTS - 1 }, () => exampleEvent("audit.data.accessed", { patientId })),
  ]);
  // Below the oldest transaction running on the server (another file's, another checkout's): else the export
  // is of a history that does not hold them yet, and ends whole.
  await historyReadable(db);
  const admin = await db.$client.connect();
  try {
    // Every row's payload is read as jsonb by this index, which would refuse the damaged row outright.
    await admin.query("DROP INDEX outbox_user_history");
    await admin.query("SET session_replication_role = replica");
    const damaged = await admin.query(
      `UPDATE outbox SET payload = replace(payload::text, '"source":"test-suite"', '"source":"test-suite\\u0000"')::json
        WHERE event_id = $1`,
      [written[DAMAGED]],
    );
    expect(damaged.rowCount).toBe(1);
  } finally {
    admin.release();
  }
  server = await serveApp(testPlatform(db, { log }));
  base = server.base;
});

afterAll(async () => {
  server?.close();
  await database.tearDown();
});

const exportPath = (format: string) => `/audit/events/export?patientId=${patientId}&format=${format}`;

/** The export read over HTTP/1.1 as curl would: the bytes received, and whether the message arrived whole. */
function exportOverTheWire(format: string): Promise<{ status: number; body: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const request = get(`${base}${exportPath(format)}`, { headers: auditor.headers() }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      // "close" follows both a whole message ("end") and one broken off ("aborted", an error).
      response.on("error", () => {});
      response.on("close", () =>
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks).toString("utf8"),
          complete: response.complete,
        }),
      );
    });
    request.on("error", reject);
  });
}

describe("an export that fails after its 200 was sent", () => {
  for (const format of ["ndjson", "csv"]) {
    it(`over HTTP, in ${format}: the transfer is broken off, incomplete, without the completion line`, async () => {
      const { status, body, complete } = await exportOverTheWire(format);
      expect(status).toBe(200);
      expect(complete, "the message arrived whole").toBe(false);
      expect(body).not.toMatch(/exportComplete|# export complete/);
      // What did arrive is the first page, or a part of it: events before the damaged row, in order.
      const sent = written.filter((eventId) => body.includes(eventId));
      expect(sent.length).toBeLessThanOrEqual(1000);
      expect(sent).toEqual(written.slice(0, sent.length));
    });
  }

  it("in process: the body's stream errors after the first page, and the failure is logged without data", async () => {
    const app = testPlatform(database.db, { log });
    const response = await app.request(exportPath("ndjson"), { headers: auditor.headers() });
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let received = "";
    const failure = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return null;
        received += decoder.decode(value, { stream: true });
      }
    })().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ExportInterrupted);
    expect((failure as ExportInterrupted).eventsSent).toBe(1000);
    const lines = received.trimEnd().split("\n");
    expect(lines.map((line) => JSON.parse(line).eventId)).toEqual(written.slice(0, 1000));

    const reports = logLines
      .map((line) => JSON.parse(line))
      .filter((entry) => entry.msg === "audit export interrupted: the response is cut off");
    expect(reports.length).toBeGreaterThanOrEqual(3);
    // Postgres's refusal by its code only: its message and detail quote the row.
    expect(reports.at(-1)).toMatchObject({ err: { code: "22P05" }, eventsSent: 1000 });
    expect(JSON.stringify(reports)).not.toContain("test-suite");
  });
});

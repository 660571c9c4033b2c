// A processing result follows its document's upload, and results are kept in the order they were processed:
// a late report of an older run never replaces a newer one. Found by a probe: a result dated 0001-01-01 became
// the document's status over one processed that day.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld } from "../../test/careWorld.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { eventsOf } from "../../test/platformState.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

async function report(documentId: string, result: Record<string, unknown>, correlationId = randomUUID()) {
  const service = await caller("service");
  return app.request(`/documents/${documentId}/processing-results`, {
    method: "POST",
    headers: service.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
    body: JSON.stringify({ ...requestBodies.processingResult(), ...result }),
  });
}

const stateOf = async (documentId: string) =>
  (
    await db.$client.query<{ status: string; processedAt: Date | null }>(
      `SELECT processing_status AS status, processed_at AS "processedAt" FROM documents WHERE id = $1`,
      [documentId],
    )
  ).rows[0];

const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

describe("a document's processing results", () => {
  it("refuse one processed before the upload, and one older than the result the document holds", async () => {
    const { documentId } = (await careWorld(db)).own;
    const before = await stateOf(documentId);

    const early = randomUUID();
    const beforeUpload = await report(documentId, { processedAt: ago(60 * 60_000) }, early);
    expect(beforeUpload.status).toBe(409);
    expect(((await beforeUpload.json()) as { detail: string }).detail).toMatch(
      /^The document was uploaded at .+: it cannot have been processed before\.$/,
    );
    expect(await eventsOf(db, early)).toEqual([]);
    expect(await stateOf(documentId)).toEqual(before);

    const latest = await report(documentId, { processedAt: ago(0) });
    expect(latest.status).toBe(200);
    const held = await stateOf(documentId);

    // Within the minute allowed for the pipeline's clock after the upload, but older than the result held.
    const late = randomUUID();
    const older = await report(
      documentId,
      { status: "FAILED", processedAt: ago(30_000), failureReason: "timeout", extracted: undefined },
      late,
    );
    expect(older.status).toBe(409);
    expect(((await older.json()) as { detail: string }).detail).toBe(
      `The document holds a result processed at ${held?.processedAt?.toISOString()}, later than this one.`,
    );
    expect(await eventsOf(db, late)).toEqual([]);
    expect(await stateOf(documentId)).toEqual(held);
  });
});

// A file name with a right-to-left override shows as another file: `invoice\u202Efdp.exe` reads "invoiceexe.pdf"
// in a list of a patient's documents. Found by a probe: such names, and consents granted to them, were stored.
// Every one-line field refuses the bidirectional controls (events/fields.ts), as a 400 that writes nothing.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { careWorld } from "../../test/careWorld.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

async function post(path: string, body: unknown) {
  const admin = await caller("admin");
  const correlationId = randomUUID();
  const response = await app.request(path, {
    method: "POST",
    headers: admin.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
    body: JSON.stringify(body),
  });
  const written = await db.$client.query("SELECT 1 FROM outbox WHERE correlation_id = $1", [correlationId]);
  return { response, written: written.rowCount };
}

async function fieldsRefused(response: Response): Promise<string[]> {
  expect(response.status).toBe(400);
  const { errors } = (await response.json()) as { errors: Array<{ field: string; message: string }> };
  for (const error of errors) expect(error.message).toMatch(/bidirectional controls/);
  return errors.map((error) => error.field);
}

describe("names with bidirectional controls", () => {
  it("are refused as a document's file name, naming it, and nothing is written", async () => {
    const { patientId } = (await careWorld(db)).own;
    for (const fileName of ["invoice\u202Efdp.exe", "scan\u2066.exe\u2069.pdf"]) {
      const { response, written } = await post("/documents", {
        ...requestBodies.document(patientId),
        fileName,
      });
      expect(await fieldsRefused(response)).toEqual(["body.fileName"]);
      expect(written).toBe(0);
      const stored = await db.$client.query("SELECT 1 FROM documents WHERE file_name = $1", [fileName]);
      expect(stored.rowCount).toBe(0);
    }
  });

  it("are refused in whom a consent is granted to and in a patient's name", async () => {
    const { documentId } = (await careWorld(db)).own;
    const consent = await post(`/documents/${documentId}/consents`, {
      ...requestBodies.consent(),
      grantedTo: "Dr. Grant \u202Enoissimrep",
    });
    expect(await fieldsRefused(consent.response)).toEqual(["body.grantedTo"]);
    expect(consent.written).toBe(0);
    const patient = await post("/patients", { ...requestBodies.patient(), firstName: "Ana\u202E" });
    expect(await fieldsRefused(patient.response)).toEqual(["body.firstName"]);
    expect(patient.written).toBe(0);
  });

  it("leave right-to-left names alone: they need none", async () => {
    const { patientId } = (await careWorld(db)).own;
    const fileName = "\u05E1\u05E8\u05D9\u05E7\u05D4.pdf";
    const { response, written } = await post("/documents", {
      ...requestBodies.document(patientId),
      fileName,
    });
    expect(response.status).toBe(201);
    expect(written).toBeGreaterThan(0);
  });
});

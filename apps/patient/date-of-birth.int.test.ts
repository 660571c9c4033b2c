// A date of birth before 1900 is a typing mistake (0001-01-01, 1025 for 2025), not a patient: a request naming
// one is a 400 naming dateOfBirth, as the published schema's formatMinimum says, and writes nothing.
import { afterAll, describe, expect, it } from "vitest";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { adminRequest, testPlatform } from "../../test/tokens.ts";
import { EARLIEST_DATE_OF_BIRTH } from "./schemas.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

async function outboxRows(correlationId: string): Promise<number> {
  const rows = await db.$client.query("SELECT 1 FROM outbox WHERE correlation_id = $1", [correlationId]);
  return rows.rowCount ?? 0;
}

async function storedDateOfBirth(patientId: string): Promise<string | undefined> {
  const rows = await db.$client.query<{ born: string }>(
    "SELECT date_of_birth::text AS born FROM patients WHERE id = $1",
    [patientId],
  );
  return rows.rows[0]?.born;
}

async function refusal(response: Response) {
  expect(response.status).toBe(400);
  const { errors } = (await response.json()) as { errors: Array<{ field: string; message: string }> };
  return errors;
}

describe("a date of birth before 1900", () => {
  it("is refused by the published contract: the request schemas' dateOfBirth has formatMinimum", async () => {
    const schemas: Array<Record<string, unknown>> = [];
    JSON.parse(await (await app.request("/openapi.json")).text(), (key, value) => {
      if (key === "dateOfBirth") schemas.push(value);
      return value;
    });
    // The patient's request bodies (POST, PATCH) carry it; the responses describe what is stored.
    const bounded = schemas.filter((schema) => schema.formatMinimum === EARLIEST_DATE_OF_BIRTH);
    expect(bounded.length).toBeGreaterThanOrEqual(2);
  });

  it("is refused when a patient is registered, naming the field, and nothing is written", async () => {
    for (const dateOfBirth of ["0001-01-01", "1025-06-15", "1899-12-31"]) {
      const body = newPatientBody({ dateOfBirth });
      const { response, correlationId } = await adminRequest(app, "POST", "/patients", body);
      expect(await refusal(response)).toEqual([
        { field: "body.dateOfBirth", message: `must not be before ${EARLIEST_DATE_OF_BIRTH}` },
      ]);
      expect(await outboxRows(correlationId)).toBe(0);
      const stored = await db.$client.query("SELECT 1 FROM patients WHERE email = $1", [body.email]);
      expect(stored.rowCount).toBe(0);
    }
  });

  it("is refused as a change, which leaves the record as it was", async () => {
    const created = await adminRequest(
      app,
      "POST",
      "/patients",
      newPatientBody({ dateOfBirth: "1950-03-04" }),
    );
    const { id } = (await created.response.json()) as { id: string };
    const { response, correlationId } = await adminRequest(app, "PATCH", `/patients/${id}`, {
      dateOfBirth: "0950-03-04",
    });
    expect((await refusal(response)).map((error) => error.field)).toEqual(["body.dateOfBirth"]);
    expect(await outboxRows(correlationId)).toBe(0);
    expect(await storedDateOfBirth(id)).toBe("1950-03-04");
  });

  it("is the only bound: the first day of 1900 is accepted", async () => {
    const { response, correlationId } = await adminRequest(
      app,
      "POST",
      "/patients",
      newPatientBody({ dateOfBirth: EARLIEST_DATE_OF_BIRTH }),
    );
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    expect(await storedDateOfBirth(id)).toBe(EARLIEST_DATE_OF_BIRTH);
    expect(await outboxRows(correlationId)).toBeGreaterThan(0);
  });
});

// Insurance dates may be unknown: the platform guide's own example patient names only the provider and the
// policy number. A request may leave the dates out; the row and patient.created then hold them as null (one
// JSON shape), and a policy whose two dates are both given still cannot end before it starts.
import { afterAll, describe, expect, it } from "vitest";
import { decrypted, newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { adminRequest, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const guideInsurance = { provider: "Blue Cross", policyNumber: "BC123456789" };

async function storedInsurance(patientId: string) {
  const row = await db.$client.query("SELECT insurance_info FROM patients WHERE id = $1", [patientId]);
  return row.rows[0]?.insurance_info;
}

async function eventPayloads(correlationId: string) {
  const rows = await db.$client.query<{ payload: string }>(
    "SELECT payload::text AS payload FROM outbox WHERE correlation_id = $1 ORDER BY position",
    [correlationId],
  );
  return Promise.all(rows.rows.map((row) => decrypted(db, row.payload)));
}

describe("insurance without dates", () => {
  it("registers the guide's example patient: dates left out are stored and sent as null", async () => {
    const { response, correlationId } = await adminRequest(app, "POST", "/patients", {
      ...newPatientBody(),
      insuranceInfo: guideInsurance,
    });
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    const expected = { ...guideInsurance, effectiveDate: null, expiryDate: null };
    expect(await storedInsurance(id)).toEqual(expected);
    const [created] = await eventPayloads(correlationId);
    expect(created).toMatchObject({ eventType: "patient.created", data: { insuranceInfo: expected } });
  });

  it("accepts one date without the other, and an update that leaves the dates out", async () => {
    const { response } = await adminRequest(app, "POST", "/patients", {
      ...newPatientBody(),
      insuranceInfo: { ...guideInsurance, effectiveDate: "2024-01-01" },
    });
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    expect(await storedInsurance(id)).toEqual({
      ...guideInsurance,
      effectiveDate: "2024-01-01",
      expiryDate: null,
    });

    const update = await adminRequest(app, "PATCH", `/patients/${id}`, {
      insuranceInfo: { ...guideInsurance, policyNumber: "BC2" },
    });
    expect(update.response.status).toBe(200);
    expect(await storedInsurance(id)).toEqual({
      ...guideInsurance,
      policyNumber: "BC2",
      effectiveDate: null,
      expiryDate: null,
    });
  });

  it("still refuses a policy that ends before it starts, naming expiryDate, and writes nothing", async () => {
    const { response, correlationId } = await adminRequest(app, "POST", "/patients", {
      ...newPatientBody(),
      insuranceInfo: { ...guideInsurance, effectiveDate: "2025-01-01", expiryDate: "2024-12-31" },
    });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { errors: Array<{ field: string }> };
    expect(problem.errors.map((error) => error.field)).toEqual(["body.insuranceInfo.expiryDate"]);
    expect(await eventPayloads(correlationId)).toEqual([]);
  });
});

describe("dates of year 0000", () => {
  it("are a 400 naming the field, as the published pattern says, and write nothing", async () => {
    // Postgres has no year 0; before, the database refused it and the answer named no field.
    for (const body of [
      { ...newPatientBody(), dateOfBirth: "0000-01-01" },
      { ...newPatientBody(), insuranceInfo: { ...guideInsurance, effectiveDate: "0000-02-29" } },
    ]) {
      const { response, correlationId } = await adminRequest(app, "POST", "/patients", body);
      expect(response.status).toBe(400);
      const { errors } = (await response.json()) as { errors: Array<{ field: string; message: string }> };
      expect(errors.map((error) => error.message)).toEqual([
        "must be in the years 0001 to 9999 (there is no year 0)",
      ]);
      expect(errors[0]?.field).toMatch(/^body\.(dateOfBirth|insuranceInfo\.effectiveDate)$/);
      expect(await eventPayloads(correlationId)).toEqual([]);
    }
  });
});

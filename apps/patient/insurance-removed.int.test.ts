// A patient without insurance has none in the database: SQL NULL, not the JSON `null`, whether registered
// without it or having it removed by a PATCH (the statements are prepared queries, whose placeholders drizzle
// would otherwise encode as JSON).
import { afterAll, describe, expect, it } from "vitest";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

async function send(method: string, path: string, body: unknown) {
  const admin = await caller("admin");
  return app.request(path, {
    method,
    headers: admin.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
}

async function insuranceIsNull(patientId: string): Promise<boolean> {
  const { rows } = await db.$client.query<{ missing: boolean }>(
    "SELECT insurance_info IS NULL AS missing FROM patients WHERE id = $1",
    [patientId],
  );
  return rows[0]?.missing as boolean;
}

describe("a patient without insurance", () => {
  it("is stored with SQL NULL when registered without it, and when a PATCH removes it", async () => {
    const without = await send("POST", "/patients", { ...newPatientBody(), insuranceInfo: null });
    expect(without.status).toBe(201);
    const { id: registeredWithout } = (await without.json()) as { id: string };
    expect(await insuranceIsNull(registeredWithout)).toBe(true);

    const insured = await send("POST", "/patients", {
      ...newPatientBody(),
      insuranceInfo: { provider: "Blue Cross", policyNumber: "BC123456789" },
    });
    const { id } = (await insured.json()) as { id: string };
    expect(await insuranceIsNull(id)).toBe(false);
    const removed = await send("PATCH", `/patients/${id}`, { insuranceInfo: null });
    expect(removed.status).toBe(200);
    expect(((await removed.json()) as { insuranceInfo: unknown }).insuranceInfo).toBeNull();
    expect(await insuranceIsNull(id)).toBe(true);
  });
});

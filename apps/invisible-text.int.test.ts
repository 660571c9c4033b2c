// Free text in a request must show something: a name of only tag characters, variation selectors from U+E0100,
// musical formatting characters (all above U+FFFF) or interlinear annotation controls looks empty wherever it is
// shown, and was taken (stored, evented, greeted by). It is a 400 naming the field, and nothing is written; text
// that shows something beside them is taken. The events keep the rule they were written under (events/fields.ts
// REQUEST_BLANK).
import { afterAll, describe, expect, it } from "vitest";
import { newPatientBody, testDatabase } from "../test/fixtures.ts";
import { requestBodies } from "../test/serviceRequests.ts";
import { adminRequest, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

/**
 * "Ada" in tag characters, a variation selector, musical formatting, an Egyptian hieroglyph format control, and the
 * interlinear annotation controls (U+FFF9-U+FFFB, which most renderers show as nothing).
 */
const INVISIBLE = [
  "\u{E0041}\u{E0064}\u{E0061}",
  "\u{E0100}",
  "\u{1D173}\u{1D17A}",
  "\u{13430}",
  "\uFFF9\uFFFA\uFFFB",
];

/** An admin's request, and how many outbox rows it wrote. */
async function send(method: string, path: string, body: unknown) {
  const { response, correlationId } = await adminRequest(app, method, path, body);
  const written = await db.$client.query("SELECT 1 FROM outbox WHERE correlation_id = $1", [correlationId]);
  return { response, written: written.rowCount };
}

async function created(path: string, body: unknown): Promise<string> {
  const { response } = await send("POST", path, body);
  expect(response.status, await response.clone().text()).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

describe("free text of only invisible characters the events' rule takes", () => {
  it("is refused as blank, naming the field, wherever a request carries it, and nothing is written", async () => {
    const patientId = await created("/patients", newPatientBody());
    const providerId = await created("/providers", requestBodies.provider());
    const patient = newPatientBody();
    for (const invisible of INVISIBLE) {
      for (const [method, path, body, field] of [
        ["POST", "/patients", { ...patient, firstName: invisible }, "body.firstName"],
        [
          "POST",
          "/patients",
          { ...patient, insuranceInfo: { ...patient.insuranceInfo, provider: invisible } },
          "body.insuranceInfo.provider",
        ],
        ["POST", "/patients", { ...patient, allergies: ["penicillin", invisible] }, "body.allergies.1"],
        ["PATCH", `/patients/${patientId}`, { lastName: invisible }, "body.lastName"],
        ["PATCH", `/providers/${providerId}`, { specialty: ` ${invisible} ` }, "body.specialty"],
        [
          "POST",
          "/appointments",
          { ...requestBodies.booking(patientId, providerId), notes: invisible },
          "body.notes",
        ],
      ] as const) {
        const { response, written } = await send(method, path, body);
        const problem = (await response.json()) as { errors?: unknown[] };
        expect(response.status, `${method} ${path} ${JSON.stringify(invisible)}`).toBe(400);
        expect(problem.errors).toEqual([{ field, message: "must not be blank" }]);
        expect(written, `${method} ${path}`).toBe(0);
      }
    }
    const stored = await db.$client.query(
      "SELECT 1 FROM patients WHERE id = $1 AND last_name = $2 UNION ALL SELECT 1 FROM appointments WHERE patient_id = $1",
      [patientId, "\u{E0041}\u{E0064}\u{E0061}"],
    );
    expect(stored.rowCount).toBe(0);
  });

  it("is taken beside text that shows, and stored as sent", async () => {
    // A flag written with tag characters (Scotland's), and a name with a variation selector after it.
    const firstName = "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}";
    const lastName = "Ana\u{E0100}";
    const id = await created("/patients", newPatientBody({ firstName, lastName }));
    const { rows } = await db.$client.query("SELECT id FROM patients WHERE id = $1", [id]);
    expect(rows).toHaveLength(1);
    const { response } = await send("GET", `/patients/${id}`, undefined);
    expect(await response.json()).toMatchObject({ firstName, lastName });
  });
});

// An e-mail address is at most 254 characters (the longest SMTP delivers). A longer one, well formed otherwise,
// is the client's 400 naming the field, and changes nothing: before the limit it reached the index that finds a
// patient by e-mail, which cannot hold an entry of more than about 2,700 bytes, and came back as a 500.
import { afterAll, describe, expect, it } from "vitest";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { adminRequest, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

/** An admin's request, and how many outbox rows it wrote. */
async function send(method: string, path: string, body: unknown) {
  const { response, correlationId } = await adminRequest(app, method, path, body);
  const written = await db.$client.query("SELECT 1 FROM outbox WHERE correlation_id = $1", [correlationId]);
  return { response, written: written.rowCount };
}

/** A well-formed address of `length` characters. */
function addressOf(length: number): string {
  const domain = "@example.org";
  return `${"a".repeat(length - domain.length)}${domain}`;
}

describe("an e-mail address", () => {
  it("of 254 characters is taken", async () => {
    const body = newPatientBody({ email: addressOf(254) });
    const { response } = await send("POST", "/patients", body);
    expect(response.status).toBe(201);
  });

  it("of 255 or 4,000 characters is refused as body.email on POST and PATCH, and nothing is written", async () => {
    const created = await send("POST", "/patients", newPatientBody());
    const { id } = (await created.response.json()) as { id: string };
    for (const length of [255, 4_000]) {
      const body = newPatientBody({ email: addressOf(length) });
      for (const [method, path] of [
        ["POST", "/patients"],
        ["PATCH", `/patients/${id}`],
      ] as const) {
        const { response, written } = await send(
          method,
          path,
          method === "POST" ? body : { email: body.email },
        );
        expect(response.status, `${method} ${length}`).toBe(400);
        const problem = (await response.json()) as { errors: Array<{ field: string }> };
        expect(
          problem.errors.map(({ field }) => field),
          `${method} ${length}`,
        ).toEqual(["body.email"]);
        expect(written, `${method} ${length}`).toBe(0);
      }
      const stored = await db.$client.query("SELECT 1 FROM patients WHERE last_name = $1", [body.lastName]);
      expect(stored.rowCount).toBe(0);
    }
  });
});

// An e-mail address is at most 254 characters (the longest SMTP delivers). A longer one, well formed otherwise,
// is the client's 400 naming the field, and changes nothing: before the limit it reached the index that finds a
// patient by e-mail, which cannot hold an entry of more than about 2,700 bytes, and came back as a 500. A request's
// address is also one mail can be delivered to (RFC 5321): zod's pattern took 65 characters before the @, and
// domain labels DNS cannot hold (over 63 characters, or ending with a hyphen).
import { afterAll, describe, expect, it } from "vitest";
import { newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
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

/** A deliverable address of `length` characters: labels of 63 characters before `.org`, the rest before the @. */
function addressOf(length: number): string {
  const labels = Math.max(0, Math.ceil((length - 68) / 64));
  const domain = `${`${"d".repeat(63)}.`.repeat(labels)}org`;
  return `${"a".repeat(length - 1 - domain.length)}@${domain}`;
}

describe("an e-mail address", () => {
  it("of 254 characters is taken", async () => {
    const body = newPatientBody({ email: addressOf(254) });
    const { response } = await send("POST", "/patients", body);
    expect(response.status).toBe(201);
  });

  it("past what mail can be delivered to is refused by POST and PATCH, saying why, and nothing is written", async () => {
    const created = await send("POST", "/patients", newPatientBody());
    const { id } = (await created.response.json()) as { id: string };
    const localPart = "must have at most 64 characters before the @";
    const labels =
      "must have a domain whose labels are at most 63 characters, none starting or ending with a hyphen";
    for (const [address, message] of [
      [`${"a".repeat(65)}@example.org`, localPart],
      [`ada@${"d".repeat(64)}.org`, labels],
      ["ada@example-.org", labels],
      ["ada@mail.-example.org", "Invalid email address"],
    ] as const) {
      for (const [method, path, body] of [
        ["POST", "/patients", newPatientBody({ email: address })],
        ["PATCH", `/patients/${id}`, { email: address }],
        ["POST", "/providers", requestBodies.provider({ email: address })],
      ] as const) {
        const { response, written } = await send(method, path, body);
        expect(response.status, `${method} ${path} ${address}`).toBe(400);
        const problem = (await response.json()) as { errors: unknown[] };
        expect(problem.errors).toEqual([{ field: "body.email", message }]);
        expect(written, `${method} ${address}`).toBe(0);
      }
    }
    const stored = await db.$client.query("SELECT 1 FROM patients WHERE email LIKE '%example-.org'");
    expect(stored.rowCount).toBe(0);
    for (const address of [
      `${"a".repeat(64)}@${"d".repeat(63)}.org`,
      "o'brien+x@sub.mail-host.example.org",
    ]) {
      const { response } = await send("POST", "/patients", newPatientBody({ email: address }));
      expect(response.status, address).toBe(201);
    }
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

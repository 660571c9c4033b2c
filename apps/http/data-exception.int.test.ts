// The error handler's last line of defence: a value the database refuses as data (SQLSTATE class 22: out of
// range, untranslatable, malformed) that got past a route's schema is the client's 400, not a 500, and
// neither the answer nor the log quotes the value (it may be personal data).
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../../observability/logger.ts";
import { testDatabase, testMasterKeys } from "../../test/fixtures.ts";
import { caller, testVerifier } from "../../test/tokens.ts";
import { createRouter, createServiceFrame } from "./service.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

const lines: string[] = [];
const app = createServiceFrame({
  title: "data exceptions",
  log: createLogger({ level: "debug", destination: { write: (line: string) => lines.push(line) } }),
  registry: new Registry(),
  readiness: [],
  verifyToken: testVerifier,
  db,
  masterKeys: testMasterKeys,
});
// A route without a schema, standing for one whose schema misses a case: it hands the value to Postgres.
app.route(
  "/",
  createRouter().post("/echo/:type", async (c) => {
    const { value } = (await c.req.json()) as { value: string };
    const { rows } = await db.$client.query(`SELECT $1::${c.req.param("type")} AS echoed`, [value]);
    return c.json(rows[0], 200);
  }),
);

async function echo(type: string, value: string) {
  const admin = await caller("admin");
  return app.request(`/echo/${type}`, {
    method: "POST",
    headers: admin.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify({ value }),
  });
}

describe("a data exception from Postgres", () => {
  it("is a 400 problem that does not quote the value, for each kind", async () => {
    const cases: Array<[string, string]> = [
      ["int4", "3000000000"], // 22003 numeric value out of range
      ["text", "Zebulon\u0000Quixote"], // 22021 invalid byte sequence (U+0000)
      ["jsonb", '{"name":"Zebulon\\u0000Quixote"}'], // 22P05 untranslatable character
      ["date", "Zebulon-02-30"], // 22007 invalid datetime format
    ];
    for (const [type, value] of cases) {
      const response = await echo(type, value);
      expect(response.status, type).toBe(400);
      expect(response.headers.get("content-type"), type).toBe("application/problem+json");
      const text = await response.text();
      expect(text, type).not.toContain("Zebulon");
      expect(text, type).not.toContain("3000000000");
    }
    expect(lines.join("")).not.toContain("Zebulon");
    expect(lines.join("")).toContain('"code":"22003"');
  });

  it("leaves other database errors the server's 500", async () => {
    const response = await echo("no_such_type", "1");
    expect(response.status).toBe(500);
  });
});

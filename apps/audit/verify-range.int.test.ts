// GET /audit/verify over a range: by position or by time, validated like the rest of the API (a bad value is
// a 400 naming the parameter), and answered with the span that was verified.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { exampleEvent } from "../../events/examples.ts";
import { append } from "../../test/auditHistory.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

async function verify(query: Record<string, string>) {
  const auditor = await caller("auditor");
  const response = await app.request(`/audit/verify?${new URLSearchParams(query)}`, {
    headers: auditor.headers(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function verificationCounts(): Promise<Record<string, number>> {
  const text = await (await app.request("/metrics")).text();
  return Object.fromEntries(
    [...text.matchAll(/^audit_verifications_total\{outcome="(\w+)"\} (\d+)$/gm)].map(([, outcome, count]) => [
      outcome,
      Number(count),
    ]),
  );
}

async function positionsOf(eventIds: string[]): Promise<string[]> {
  const { rows } = await db.$client.query<{ position: string }>(
    "SELECT position::text AS position FROM outbox WHERE event_id = ANY($1::uuid[]) ORDER BY tx_id, position",
    [eventIds],
  );
  return rows.map((row) => row.position);
}

describe("GET /audit/verify over a range", () => {
  it("verifies the events between two positions and names the span it verified", async () => {
    const patientId = randomUUID();
    const ids = [
      ...(await append(db, [exampleEvent("patient.created", { patientId })])),
      ...(await append(db, [exampleEvent("patient.updated", { patientId })])),
      ...(await append(db, [exampleEvent("patient.updated", { patientId })])),
    ];
    const [from, , to] = (await positionsOf(ids)) as [string, string, string];
    const { status, body } = await verify({ from, to });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      intact: true,
      range: { afterCheckpoint: expect.any(Number), throughPosition: to },
      upToPosition: to,
    });
    expect(body.rows).toBeGreaterThanOrEqual(3);
  });

  it("finds a checkpoint written down before gone, and reports the last one of the range", async () => {
    const patientId = randomUUID();
    const ids = [
      ...(await append(db, [exampleEvent("patient.created", { patientId })])),
      ...(await append(db, [exampleEvent("patient.updated", { patientId })])),
    ];
    const [from, to] = (await positionsOf(ids)) as [string, string];
    const intact = await verify({ from, to });
    expect(intact.body).toMatchObject({ intact: true });
    expect(intact.body).toHaveProperty("lastCheckpoint");
    const neverSealed = `999999999999999:${"0".repeat(64)}`;
    const before = await verificationCounts();
    const { status, body } = await verify({ from, to, expectCheckpoint: neverSealed });
    expect(status).toBe(200);
    expect(body).toEqual({
      intact: false,
      range: null,
      rows: 0,
      brokenLink: {
        checkpoint: 999999999999999,
        problem: expect.stringMatching(
          /^this checkpoint is gone \(the history's newest is (\d+|none)\): checkpoints were removed, unless it was never sealed here$/,
        ),
        cause: "expectCheckpoint",
      },
    });
    // Any auditor may name a checkpoint: a claim the history does not bear out is counted apart from a broken
    // history, which pages someone (AuditVerificationFailed) with "keep the database as it is".
    expect(await verificationCounts()).toEqual({
      intact: before.intact ?? 0,
      broken: before.broken ?? 0,
      not_as_expected: (before.not_as_expected ?? 0) + 1,
    });
  });

  it("verifies up to now when until is still to come", async () => {
    const anHourAgo = new Date(Date.now() - 3_600_000).toISOString();
    const { status, body } = await verify({ since: anHourAgo, until: "2099-01-01T00:00:00Z" });
    expect(status).toBe(200);
    expect(body).toMatchObject({ range: { throughPosition: null } });
  });

  it("answers a bad range with a 400 naming the parameter", async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ from: "abc" }, "query.from"],
      [{ to: "-5" }, "query.to"],
      [{ from: "99999999999999999999" }, "query.from"],
      [{ since: "yesterday" }, "query.since"],
      [{ until: "2026-01-01" }, "query.until"],
      [{ from: "1", since: "2026-01-01T00:00:00Z" }, "query.since"],
      [{ since: "2026-02-01T00:00:00Z", until: "2026-01-01T00:00:00Z" }, "query.until"],
      [{ from: "9223372036854775807" }, "query.from"],
      [{ everything: "yes" }, "query.everything"],
      // Nothing has been committed since a time still to come: no verification of nothing called intact.
      [{ since: "2099-01-01T00:00:00Z" }, "query.since"],
      [{ expectCheckpoint: "12" }, "query.expectCheckpoint"],
      [{ expectCheckpoint: `0:${"a".repeat(64)}` }, "query.expectCheckpoint"],
      [{ expectCheckpoint: `12:${"g".repeat(64)}` }, "query.expectCheckpoint"],
      [{ expectCheckpoint: `12:${"a".repeat(63)}` }, "query.expectCheckpoint"],
    ];
    for (const [query, field] of cases) {
      const { status, body } = await verify(query);
      expect(status, JSON.stringify(query)).toBe(400);
      expect(body.errors, JSON.stringify(query)).toEqual([{ field, message: expect.any(String) }]);
    }
  });
});

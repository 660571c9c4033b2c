// An aggregate id in the audit history is found as the query types it. Most ids are UUIDs, stored in lower case,
// and a query in upper case finds them; a login attempt by an unknown name is an actor's event under the
// username as typed, and a username typed as an upper-case UUID is found under that spelling too, where the
// lower-cased query alone answered an empty page: "nothing of the kind happened".
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { auditAll, historyReadable } from "../../test/auditHistory.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

async function loginAttemptBy(username: string): Promise<string> {
  const service = await caller("service");
  const response = await app.request("/internal/login-attempts", {
    method: "POST",
    headers: service.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify({ ...requestBodies.loginAttempt(), userId: null, username }),
  });
  expect(response.status).toBe(201);
  const { rows } = await db.$client.query<{ eventId: string; aggregateId: string }>(
    `SELECT event_id AS "eventId", aggregate_id AS "aggregateId" FROM outbox
      WHERE event_type = 'audit.login.attempt' AND aggregate_id IN ($1, lower($1))`,
    [username],
  );
  expect(rows.map((row) => row.aggregateId)).toEqual([username]);
  await historyReadable(db, { column: "aggregate_id", value: username });
  return (rows[0] as { eventId: string }).eventId;
}

describe("an actor's history by aggregate id", () => {
  it("finds a login attempt whose username is a UUID typed in upper case, under that spelling", async () => {
    const auditor = await caller("auditor");
    const typed = randomUUID().toUpperCase();
    const eventId = await loginAttemptBy(typed);

    const asTyped = await auditAll(app, auditor, { aggregateType: "actor", aggregateId: typed });
    expect(asTyped.map((event) => event.eventId)).toEqual([eventId]);
    // In lower case it is another id: no user, patient or typed name holds it.
    expect(
      await auditAll(app, auditor, { aggregateType: "actor", aggregateId: typed.toLowerCase() }),
    ).toEqual([]);
  });

  it("finds a user's events by their id in either case, and a lower-case username as typed", async () => {
    const auditor = await caller("auditor");
    const typed = randomUUID();
    const eventId = await loginAttemptBy(typed);
    for (const spelling of [typed, typed.toUpperCase()]) {
      const found = await auditAll(app, auditor, { aggregateType: "actor", aggregateId: spelling });
      expect(
        found.map((event) => event.eventId),
        spelling,
      ).toEqual([eventId]);
    }
  });
});

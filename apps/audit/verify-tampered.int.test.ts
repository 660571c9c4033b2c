// GET /audit/verify over a history an administrator tampered with (triggers off): the answer is the broken link,
// a 200 counted `broken`, whatever was changed; never a refusal that blames the auditor's request, and never
// "intact" for a row moved out of a patient's history. Tampering must touch no one else's: a database each.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabases, type TestHistory, testKey, testKeys } from "../../test/auditHistories.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const databases = freshDatabases("verify_tampered");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

/** Four patients' events and audit events, sealed, then one more round after the checkpoint. */
async function sealedHistory(): Promise<TestHistory> {
  const history = await databases.create();
  await history.begin();
  await history.round();
  await history.seal(testKey);
  await history.round();
  return history;
}

/** The history verified through the API, and whether the verification was counted broken; then closed. */
async function verify(history: TestHistory) {
  const app = testPlatform(history.db, { checkpointKeys: async () => testKeys });
  const auditor = await caller("auditor");
  const response = await app.request("/audit/verify", { headers: auditor.headers() });
  const metrics = await (await app.request("/metrics")).text();
  await history.close();
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
    broken: /^audit_verifications_total\{outcome="broken"\} 1$/m.test(metrics),
  };
}

describe("GET /audit/verify over a tampered history", () => {
  it("reports a version changed to the largest bigint as a broken link, not as the auditor's bad request", async () => {
    const history = await sealedHistory();
    const last = (await history.rows()).at(-2);
    expect(last?.aggregateVersion).toEqual(expect.any(Number));
    await (await history.admin()).query(
      "UPDATE outbox SET aggregate_version = 9223372036854775807 WHERE position = $1",
      [last?.position],
    );
    expect(await verify(history)).toEqual({
      status: 200,
      body: expect.objectContaining({
        intact: false,
        brokenLink: {
          position: last?.position,
          eventId: last?.eventId,
          problem: "its content does not match its hash: the row was changed",
        },
      }),
      broken: true,
    });
  });

  it("reports an access record taken out of its patient's history", async () => {
    const history = await sealedHistory();
    const access = (await history.rows()).findLast((row) => row.eventType === "audit.data.accessed");
    await (await history.admin()).query("UPDATE outbox SET patient_id = NULL WHERE position = $1", [
      access?.position,
    ]);
    expect(await verify(history)).toEqual({
      status: 200,
      body: expect.objectContaining({
        intact: false,
        brokenLink: {
          position: access?.position,
          eventId: access?.eventId,
          problem: expect.stringMatching(/^it is filed under no patient, though its envelope names one/),
        },
      }),
      broken: true,
    });
  });
});

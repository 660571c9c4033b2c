// A service whose PHI_MASTER_KEYS cannot unwrap a patient's data key (no key of the id that wrapped it, or
// other bytes under that id) writes nothing about them: the request is the 503 of a platform fault, with
// Retry-After, no new key is made in place of theirs, and once the right keys are back the same write succeeds.
// The log names the master key, never a key's bytes.
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../../observability/logger.ts";
import { parseMasterKeys } from "../../phi/masterKeys.ts";
import { newPatientBody, testDatabase, testMasterKeys } from "../../test/fixtures.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const rightKeys = testPlatform(db);
afterAll(() => db.$client.end());

const otherBytes = randomBytes(32).toString("base64");
const faults = [
  {
    fault: "other bytes under the id that wrapped the key",
    keys: parseMasterKeys(`${testMasterKeys.currentId}:${otherBytes}`),
    error: "MasterKeyRejected",
  },
  {
    fault: "no key of the id that wrapped the key",
    keys: parseMasterKeys(`not-${testMasterKeys.currentId}:${otherBytes}`),
    error: "MasterKeyMissing",
  },
];

async function send(app: ReturnType<typeof testPlatform>, method: string, path: string, body: unknown) {
  const admin = await caller("admin");
  return app.request(path, {
    method,
    headers: admin.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
  });
}

async function stored(patientId: string) {
  const { rows } = await db.$client.query(
    `SELECT (SELECT phone FROM patients WHERE id = $1) AS phone,
            (SELECT count(*)::int FROM outbox WHERE patient_id = $1) AS events,
            (SELECT row(master_key_id, wrapped_key)::text FROM patient_keys WHERE patient_id = $1) AS key`,
    [patientId],
  );
  return rows[0] as { phone: string; events: number; key: string };
}

describe("a write about a patient whose data key this service's master keys cannot unwrap", () => {
  it.each(faults)("with $fault is a 503, writes nothing and makes no key", async ({ keys, error }) => {
    const registered = await send(rightKeys, "POST", "/patients", newPatientBody({ phone: "+14155552671" }));
    expect(registered.status).toBe(201);
    const { id } = (await registered.json()) as { id: string };
    const before = await stored(id);

    // Another process: a pool of its own, so no data key cached by the writes above (db/patientKeyCache.ts).
    const ownDb = testDatabase();
    const lines: string[] = [];
    const misconfigured = testPlatform(ownDb, {
      masterKeys: keys,
      log: createLogger({ level: "info", destination: { write: (line: string) => lines.push(line) } }),
    });
    try {
      const refused = await send(misconfigured, "PATCH", `/patients/${id}`, { phone: "+14155550100" });
      expect(refused.status).toBe(503);
      expect(refused.headers.get("content-type")).toContain("application/problem+json");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await refused.json()).toMatchObject({ status: 503, title: "Service Unavailable" });
    } finally {
      await ownDb.$client.end();
    }
    expect(await stored(id)).toEqual(before);

    const log = lines.join("");
    // The id recorded with the patient's wrapped key: the one to fix in PHI_MASTER_KEYS.
    expect(log).toContain(`"type":"${error}","masterKeyId":"${testMasterKeys.currentId}"`);
    for (const [, key] of [...keys.keys, ...testMasterKeys.keys]) {
      expect(log).not.toContain(key.toString("base64"));
      expect(log).not.toContain(key.toString("hex"));
    }

    // The operator puts the right key back: the same write goes through, under the key the patient had.
    const retried = await send(rightKeys, "PATCH", `/patients/${id}`, { phone: "+14155550100" });
    expect(retried.status).toBe(200);
    const after = await stored(id);
    expect(after).toMatchObject({ phone: "+14155550100", key: before.key });
    expect(after.events).toBeGreaterThan(before.events);
  });
});

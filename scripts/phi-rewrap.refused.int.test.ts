// `npm run phi:rewrap` with master keys that cannot open a patient's key (PHI_MASTER_KEYS lacks the key that
// wrapped it, or gives other bytes under its id) and on a database that is not migrated: one line saying what to
// fix, exit code 1, no stack trace, and the patient's key left as it was.
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { parseMasterKeys } from "../phi/masterKeys.ts";
import { spawnScript } from "../test/childProcess.ts";
import { patientCreated, testEventContext } from "../test/fixtures.ts";
import { ownDatabase, urlOfDatabase } from "../test/ownDatabase.ts";

const database = ownDatabase("phi_rewrap_refused");
beforeAll(database.setUp);
afterAll(database.tearDown);

const keyText = () => randomBytes(32).toString("base64");

async function rewrap(env: Record<string, string>) {
  const command = spawnScript("scripts/phi-rewrap.ts", { args: ["--yes"], env });
  const code = await command.exited;
  return { code, output: command.output() };
}

async function keyRow(patientId: string) {
  const result = await database.db.$client.query(
    "SELECT master_key_id, wrapped_key FROM patient_keys WHERE patient_id = $1",
    [patientId],
  );
  return result.rows[0];
}

/** A patient whose data key the master key `retired` wrapped. */
async function patientUnder(retired: string) {
  const patientId = randomUUID();
  await writeTransaction(database.db, (tx) =>
    appendEvents(tx, testEventContext({ masterKeys: parseMasterKeys(`retired:${retired}`) }), [
      patientCreated(patientId),
    ]),
  );
  return patientId;
}

describe("phi:rewrap refused", () => {
  it("names the master key PHI_MASTER_KEYS lacks, on one line with exit code 1, and re-wraps nothing", async () => {
    const patientId = await patientUnder(keyText());
    const before = await keyRow(patientId);

    const { code, output } = await rewrap({
      DATABASE_URL: database.url,
      PHI_MASTER_KEYS: `current:${keyText()}`,
    });

    expect(code, output).toBe(1);
    expect(output.trim()).toBe(
      'phi:rewrap failed: PHI_MASTER_KEYS has no key "retired", which wraps patient keys still in use',
    );
    expect(await keyRow(patientId)).toEqual(before);
    expect(before.master_key_id).toBe("retired");
  });

  it("names the master key that does not open the key it wrapped, never a key's bytes", async () => {
    const patientId = await patientUnder(keyText());
    const before = await keyRow(patientId);
    const keys = `current:${keyText()},retired:${keyText()}`;

    const { code, output } = await rewrap({ DATABASE_URL: database.url, PHI_MASTER_KEYS: keys });

    expect(code, output).toBe(1);
    expect(output).toContain(`phi:rewrap failed: PHI_MASTER_KEYS' key "retired" does not open`);
    expect(output).not.toMatch(/^\s+at /m);
    expect(output.trim().split("\n")).toHaveLength(1);
    for (const entry of keys.split(",")) expect(output).not.toContain(entry.split(":")[1]);
    expect(await keyRow(patientId)).toEqual(before);
  });

  it("names DATABASE_URL and the migration when the database has none of the project's tables", async () => {
    const { code, output } = await rewrap({
      DATABASE_URL: urlOfDatabase("postgres"),
      PHI_MASTER_KEYS: `current:${keyText()}`,
    });

    expect(code, output).toBe(1);
    expect(output.trim()).toMatch(
      /^phi:rewrap failed: the database DATABASE_URL names is not migrated, or not this project's \(relation "\w+" does not exist\): run npm run db:migrate against it$/,
    );
  });
});

// `npm run phi:rewrap` while another writer wraps patient keys with the older master key (a process not yet
// given the rotated PHI_MASTER_KEYS, or a second re-wrap): it says the older key is no longer needed only when
// no key wrapped by it is left, since an operator who then removes it makes those patients' data unreadable.
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { parseMasterKeys } from "../phi/masterKeys.ts";
import { type ScriptProcess, spawnScript } from "../test/childProcess.ts";
import { patientCreated, testEventContext } from "../test/fixtures.ts";
import { ownDatabase } from "../test/ownDatabase.ts";

const database = ownDatabase("phi_rewrap_alongside");
beforeAll(database.setUp);
afterAll(database.tearDown);

const keyText = () => randomBytes(32).toString("base64");

async function masterKeyOf(patientId: string): Promise<string> {
  const result = await database.db.$client.query(
    "SELECT master_key_id FROM patient_keys WHERE patient_id = $1",
    [patientId],
  );
  return result.rows[0]?.master_key_id;
}

/** A patient whose data key `keys` (PHI_MASTER_KEYS' format) wrapped with its first key. */
async function patientUnder(keys: string) {
  const patientId = randomUUID();
  await writeTransaction(database.db, (tx) =>
    appendEvents(tx, testEventContext({ masterKeys: parseMasterKeys(keys) }), [patientCreated(patientId)]),
  );
  return patientId;
}

/** Waits until the re-wrap's connection waits for a row lock: what it reads next, it reads after that. */
async function untilWaitingForALock(command: ScriptProcess): Promise<void> {
  for (;;) {
    if (command.child.exitCode !== null) throw new Error(`phi:rewrap ended first:\n${command.output()}`);
    const result = await database.db.$client.query(
      "SELECT 1 FROM pg_stat_activity WHERE application_name = 'phi-rewrap' AND wait_event_type = 'Lock'",
    );
    if (result.rowCount) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("phi:rewrap alongside another writer", () => {
  it("re-wraps a key written with the older master key while it ran, before saying that key is not needed", async () => {
    const [current, retired] = [keyText(), keyText()];
    const first = await patientUnder(`retired:${retired}`);
    // Another transaction holds the first patient's key row, as a second re-wrap does while it re-wraps it.
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT 1 FROM patient_keys WHERE patient_id = $1 FOR UPDATE", [first]);
      const command = spawnScript("scripts/phi-rewrap.ts", {
        args: ["--yes"],
        env: { DATABASE_URL: database.url, PHI_MASTER_KEYS: `current:${current},retired:${retired}` },
      });
      await untilWaitingForALock(command);
      // Written after the re-wrap's batch began reading, by a process whose PHI_MASTER_KEYS puts `retired` first.
      const second = await patientUnder(`retired:${retired}`);
      await holder.query("COMMIT");

      const code = await command.exited;

      expect(code, command.output()).toBe(0);
      expect(command.output()).toContain('no live key needs "retired" any more');
      expect({ first: await masterKeyOf(first), second: await masterKeyOf(second) }).toEqual({
        first: "current",
        second: "current",
      });
    } finally {
      await holder.end();
    }
  });
});

// Patient keys in the real database: made on the first personal event, wrapped by the current master key,
// destroyed by erasure (after which no field of the patient opens and none can be written), and re-wrapped
// by a master key rotation without changing a byte of the history.
import { randomBytes, randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { decryptEvent } from "../phi/decryptEvent.ts";
import { CiphertextRejected } from "../phi/fieldCipher.ts";
import { parseMasterKeys } from "../phi/masterKeys.ts";
import {
  decrypted,
  masterKeyRotation,
  patientCreated,
  testDatabase,
  testEventContext,
  testMasterKeys,
} from "../test/fixtures.ts";
import { writeTransaction } from "./client.ts";
import { appendEvents } from "./outbox/appendEvents.ts";
import {
  destroyDataKey,
  MasterKeyRejected,
  PatientErased,
  PatientKeyring,
  rewrapDataKeys,
} from "./patientKeys.ts";
import { patientKeys } from "./schema.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

async function writePatient() {
  const created = patientCreated();
  const [appended] = await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [created]));
  const { rows } = await db.$client.query<{ payload: string }>(
    "SELECT payload::text AS payload FROM outbox WHERE event_id = $1",
    [appended?.eventId],
  );
  return { created, payload: rows[0]?.payload as string };
}

const keyRow = async (patientId: string) =>
  (await db.select().from(patientKeys).where(eq(patientKeys.patientId, patientId)))[0];

describe("patient keys", () => {
  it("are made with the first personal event, wrapped by the current master key, and open its fields", async () => {
    const { created, payload } = await writePatient();
    const row = await keyRow(created.data.patientId);
    expect(row?.masterKeyId).toBe(testMasterKeys.currentId);
    expect(row?.wrappedKey?.length).toBe(12 + 32 + 16);
    expect(payload).not.toContain(created.data.lastName);
    expect(payload).not.toContain(created.data.email);
    expect((await decrypted(db, payload)).data).toEqual(created.data);
  });

  it("once destroyed, open nothing and seal nothing: the erased patient's events cannot be read or written", async () => {
    const { created, payload } = await writePatient();
    const patientId = created.data.patientId;
    expect(await writeTransaction(db, (tx) => destroyDataKey(tx, patientId, new Date()))).toBe(true);
    expect(await writeTransaction(db, (tx) => destroyDataKey(tx, patientId, new Date()))).toBe(false);
    expect(await keyRow(patientId)).toMatchObject({ masterKeyId: null, wrappedKey: null });

    await expect(decrypted(db, payload)).rejects.toThrow(PatientErased);
    const before = await db.$client.query("SELECT count(*)::int AS n FROM outbox WHERE patient_id = $1", [
      patientId,
    ]);
    await expect(
      writeTransaction(db, (tx) =>
        appendEvents(tx, testEventContext(), [
          {
            type: "patient.updated",
            data: { patientId, changedFields: ["phone"], changes: { phone: "+14155550100" } },
          },
        ]),
      ),
    ).rejects.toThrow(PatientErased);
    const after = await db.$client.query("SELECT count(*)::int AS n FROM outbox WHERE patient_id = $1", [
      patientId,
    ]);
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it("refuse a master key of the recorded id but other bytes as MasterKeyRejected, naming the id, not a key", async () => {
    const { created, payload } = await writePatient();
    const otherBytes = randomBytes(32);
    const impostor = parseMasterKeys(`${testMasterKeys.currentId}:${otherBytes.toString("base64")}`);
    const reading = decryptEvent(JSON.parse(payload), new PatientKeyring(db, impostor));
    await expect(reading).rejects.toThrow(MasterKeyRejected);
    // Not the error of a field that does not open, which a consumer takes for a bad record and parks.
    await expect(reading).rejects.not.toBeInstanceOf(CiphertextRejected);
    const error = (await reading.catch((rejected: unknown) => rejected)) as MasterKeyRejected;
    expect(error).toMatchObject({ masterKeyId: testMasterKeys.currentId, patientId: created.data.patientId });
    expect(error.message).toContain(`PHI_MASTER_KEYS' key "${testMasterKeys.currentId}"`);
    for (const key of [otherBytes, ...testMasterKeys.keys.values()]) {
      expect(error.message).not.toContain(key.toString("base64"));
    }
    expect(error.message).not.toContain(created.data.lastName);

    // Nor can anything about the patient be written: no key is made in place of theirs (a pool of its own, as
    // another process has: no key cached by this one).
    const before = await keyRow(created.data.patientId);
    const otherProcess = testDatabase();
    try {
      await expect(
        writeTransaction(otherProcess, (tx) =>
          appendEvents(tx, testEventContext({ masterKeys: impostor }), [
            {
              type: "patient.updated",
              data: {
                patientId: created.data.patientId,
                changedFields: ["phone"],
                changes: { phone: "+14155550100" },
              },
            },
          ]),
        ),
      ).rejects.toThrow(MasterKeyRejected);
    } finally {
      await otherProcess.$client.end();
    }
    expect(await keyRow(created.data.patientId)).toEqual(before);
    expect((await decrypted(db, payload)).data).toEqual(created.data);
  });

  it("move to a new master key on rewrap, after which the old master key is not needed", async () => {
    const { created, payload } = await writePatient();
    const { rotated, onlyNew, restored } = masterKeyRotation(`rotated-${randomUUID().slice(0, 8)}`);
    // Rotation re-wraps every key of the database; the finally puts them back under this process's key,
    // which the other tests of the run (and their consumer processes) unwrap with.
    try {
      expect(await rewrapDataKeys(db, rotated)).toBeGreaterThanOrEqual(1);
      expect((await keyRow(created.data.patientId))?.masterKeyId).toBe(rotated.currentId);

      const opened = await decryptEvent(JSON.parse(payload), new PatientKeyring(db, onlyNew));
      expect(opened.data).toEqual(created.data);
      // The old master key alone no longer opens it: the wrapped key changed, the history did not.
      await expect(decryptEvent(JSON.parse(payload), new PatientKeyring(db, testMasterKeys))).rejects.toThrow(
        /PHI_MASTER_KEYS has no key/,
      );
    } finally {
      await rewrapDataKeys(db, restored);
    }
  });
});

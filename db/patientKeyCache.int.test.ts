// The cache of unwrapped patient keys that writes use: a known patient's key is served from it, an erasure
// takes the key out at once in the erasing process and, by its notification, in every other one (here: another
// pool, as another process would hold), after which nothing can be sealed for the patient; a process whose
// listener has gone silent (its Postgres backend frozen) stops using, and clears, its cache; and a key rewrapped
// under a new master key still seals and opens.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { decryptEvent } from "../phi/decryptEvent.ts";
import {
  decrypted,
  eventually,
  masterKeyRotation,
  patientCreated,
  testDatabase,
  testEventContext,
} from "../test/fixtures.ts";
import { type Database, writeTransaction } from "./client.ts";
import { appendEvents } from "./outbox/appendEvents.ts";
import {
  keyCache,
  keyCacheListenerProcessId,
  keyCacheReady,
  LEASE_MS,
  usableKeyCache,
} from "./patientKeyCache.ts";
import { destroyDataKey, PatientErased, PatientKeyring, rewrapDataKeys } from "./patientKeys.ts";

const db = testDatabase();
const elsewhere = testDatabase();
afterAll(async () => {
  await db.$client.end();
  await elsewhere.$client.end();
});

const phoneChange = (patientId: string) => ({
  type: "patient.updated" as const,
  data: { patientId, changedFields: ["phone" as const], changes: { phone: "+14155550100" } },
});
const write = (on: Database, event: ReturnType<typeof phoneChange> | ReturnType<typeof patientCreated>) =>
  writeTransaction(on, (tx) => appendEvents(tx, testEventContext(), [event]));
const payloadOf = async (eventId: string) =>
  (
    await db.$client.query<{ payload: string }>(
      "SELECT payload::text AS payload FROM outbox WHERE event_id = $1",
      [eventId],
    )
  ).rows[0]?.payload as string;

/** A patient with a key, which both pools have read (and so cached) by writing an event for them. */
async function cachedPatient(): Promise<string> {
  expect(await keyCacheReady(db.$client)).toBe(true);
  expect(await keyCacheReady(elsewhere.$client)).toBe(true);
  const created = patientCreated();
  const patientId = created.data.patientId;
  await write(db, created);
  await write(db, phoneChange(patientId));
  await write(elsewhere, phoneChange(patientId));
  expect(keyCache(db.$client).has(patientId)).toBe(true);
  expect(keyCache(elsewhere.$client).has(patientId)).toBe(true);
  return patientId;
}

describe("the cache of patient keys for writing", () => {
  it("serves a known patient's key, which opens what it sealed", async () => {
    const patientId = await cachedPatient();
    const [event] = await write(db, phoneChange(patientId));
    expect((await decrypted(db, await payloadOf(event?.eventId as string))).data).toEqual(
      phoneChange(patientId).data,
    );
  });

  it("loses an erased patient's key at once, here and in another process, and then seals nothing for them", async () => {
    const patientId = await cachedPatient();
    const count = async () =>
      (await db.$client.query("SELECT count(*)::int AS n FROM outbox WHERE patient_id = $1", [patientId]))
        .rows[0].n;
    const before = await count();

    await writeTransaction(db, (tx) => destroyDataKey(tx, patientId, new Date()));
    expect(keyCache(db.$client).has(patientId)).toBe(false);
    await eventually(async () => !keyCache(elsewhere.$client).has(patientId));

    await expect(write(db, phoneChange(patientId))).rejects.toThrow(PatientErased);
    await expect(write(elsewhere, phoneChange(patientId))).rejects.toThrow(PatientErased);
    expect(await count()).toBe(before);
    expect(keyCache(db.$client).has(patientId)).toBe(false);
  });

  it("is used no more, and cleared, once its listener is silent, so an erasure it cannot hear is not missed", async () => {
    const patientId = await cachedPatient();
    // The listener's Postgres backend frozen: its connection stays open, and answers nothing, not even an error.
    const backend = keyCacheListenerProcessId(elsewhere.$client) as number;
    expect(backend).toBeGreaterThan(0);
    process.kill(backend, "SIGSTOP");
    try {
      await writeTransaction(db, (tx) => destroyDataKey(tx, patientId, new Date()));
      await eventually(async () => usableKeyCache(elsewhere.$client) === null, LEASE_MS * 3);
      expect(keyCache(elsewhere.$client).has(patientId)).toBe(false);
      // Without its cache the process reads the key, and finds it erased: nothing is sealed under the old one.
      await expect(write(elsewhere, phoneChange(patientId))).rejects.toThrow(PatientErased);
    } finally {
      process.kill(backend, "SIGCONT");
    }
    // A new listener is heard from: the cache is in use again.
    expect(await eventually(() => keyCacheReady(elsewhere.$client), LEASE_MS * 3)).toBe(true);
    expect(keyCacheListenerProcessId(elsewhere.$client)).not.toBe(backend);
  });

  it("keeps sealing with a key rewrapped under a new master key, which the new master key alone opens", async () => {
    const patientId = await cachedPatient();
    const { rotated, onlyNew, restored } = masterKeyRotation(`cache-${randomUUID().slice(0, 8)}`);
    try {
      expect(await rewrapDataKeys(db, rotated)).toBeGreaterThanOrEqual(1);
      const [event] = await write(db, phoneChange(patientId));
      const opened = await decryptEvent(
        JSON.parse(await payloadOf(event?.eventId as string)),
        new PatientKeyring(db, onlyNew),
      );
      expect(opened.data).toEqual(phoneChange(patientId).data);
    } finally {
      // Back under this process's key, which the other tests of the run unwrap with.
      await rewrapDataKeys(db, restored);
    }
  });
});

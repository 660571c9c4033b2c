// A transaction that declares a patient's aggregate reads the patient's data key with BEGIN (db/begunKeys.ts):
// a new patient's key is made then and inserted by the outbox statement, with the rows sealed under it, and an
// existing one is unwrapped from what BEGIN read. These tests check what patient_keys and the outbox hold, and
// that every sealed field opens with the key stored: after a first write, two racing first writes, a rollback,
// a key made and never written, savepoints rolled back, and an erasure.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { NewEvent } from "../events/index.ts";
import { decrypted, eventually, patientCreated, testDatabase, testEventContext } from "../test/fixtures.ts";
import { PATIENT_AGGREGATE } from "./begunKeys.ts";
import {
  connectionOf,
  createDatabase,
  type Database,
  writeTransaction,
  writeTransactionRetries,
} from "./client.ts";
import { appendEvents } from "./outbox/appendEvents.ts";
import { keyCache } from "./patientKeyCache.ts";
import { dataKeysForWriting, destroyDataKey, PatientErased } from "./patientKeys.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

const context = testEventContext();
const declared = (patientId: string) => ({
  appendsTo: { aggregateType: PATIENT_AGGREGATE, aggregateId: patientId },
});
const emailChanged = (patientId: string, email: string): NewEvent => ({
  type: "patient.updated",
  data: { patientId, changedFields: ["email"], changes: { email } },
});

async function keyRows(patientId: string) {
  const { rows } = await db.$client.query<{ wrapped: boolean }>(
    "SELECT wrapped_key IS NOT NULL AS wrapped FROM patient_keys WHERE patient_id = $1",
    [patientId],
  );
  return rows;
}

/** The patient's events as a consumer with access reads them: each opened with the key patient_keys holds. */
async function openedEvents(patientId: string) {
  const { rows } = await db.$client.query<{ payload: string }>(
    "SELECT payload::text AS payload FROM outbox WHERE aggregate_id = $1 ORDER BY tx_id, position",
    [patientId],
  );
  return Promise.all(rows.map(async (row) => (await decrypted(db, row.payload)).data));
}

/** One connection, so that its prepared statements are the test's own. */
function singleConnection(): Database {
  return createDatabase(db.$client.options.connectionString as string, { max: 1 });
}

describe("a declared patient's data key", () => {
  it("is made for a new patient and written with the outbox rows: no statement of its own, the fields open with it", async () => {
    const single = singleConnection();
    try {
      const created = patientCreated();
      const { patientId } = created.data;
      await writeTransaction(single, declared(patientId), (tx) => appendEvents(tx, context, [created]));
      // Its second write finds the key as BEGIN read it (the cache is not asked: the test's pool has none yet).
      keyCache(single.$client).clear();
      await writeTransaction(single, { lockAggregate: declared(patientId).appendsTo }, (tx) =>
        appendEvents(tx, context, [emailChanged(patientId, "ada@example.net")]),
      );
      const { rows } = await single.$client.query<{ name: string }>(
        "SELECT name FROM pg_prepared_statements WHERE name LIKE 'patient-keys.%'",
      );
      expect(rows).toEqual([]);
      expect(await keyRows(patientId)).toEqual([{ wrapped: true }]);
      const [first, second] = await openedEvents(patientId);
      expect(first).toMatchObject({ patientId, email: created.data.email, lastName: created.data.lastName });
      expect(second).toMatchObject({ patientId, changes: { email: "ada@example.net" } });
    } finally {
      await single.$client.end();
    }
  });

  it("made by two first writes at once, is one key: the later write is retried and seals under the earlier's", async () => {
    const created = patientCreated();
    const { patientId } = created.data;
    let holdFirst: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      holdFirst = resolve;
    });
    let appended: () => void = () => {};
    const firstAppended = new Promise<void>((resolve) => {
      appended = resolve;
    });
    const retriesBefore = writeTransactionRetries().serialization;
    let firstBackend: number | undefined;
    const first = writeTransaction(db, declared(patientId), async (tx) => {
      await appendEvents(tx, context, [created]);
      firstBackend = (await connectionOf(tx).query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]
        ?.pid;
      appended();
      await held;
    });
    await firstAppended;
    // Begun while the first is open: its BEGIN finds no key, and its insert of one waits for the first's.
    const second = writeTransaction(db, declared(patientId), (tx) =>
      appendEvents(tx, context, [emailChanged(patientId, "second@example.org")]),
    );
    const both = Promise.all([first, second]);
    both.catch(() => undefined); // awaited below: a failure meanwhile is reported there
    // The first commits once the second waits for it (a fixed 300 ms let a busy machine's second begin after
    // the commit, find the key, and never be retried); after 30 s without a wait, it commits all the same.
    await eventually(async () => {
      const { rowCount } = await db.$client.query(
        "SELECT 1 FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))",
        [firstBackend],
      );
      return rowCount !== 0;
    }).catch(() => undefined);
    holdFirst();
    await both;

    expect(writeTransactionRetries().serialization).toBeGreaterThan(retriesBefore);
    expect(await keyRows(patientId)).toEqual([{ wrapped: true }]);
    const opened = await openedEvents(patientId);
    expect(opened).toHaveLength(2);
    expect(opened[1]).toMatchObject({ changes: { email: "second@example.org" } });
  });

  it("made in a transaction that rolls back, is neither stored nor cached", async () => {
    const created = patientCreated();
    const { patientId } = created.data;
    await expect(
      writeTransaction(db, declared(patientId), async (tx) => {
        await appendEvents(tx, context, [created]);
        throw new Error("the caller's own failure");
      }),
    ).rejects.toThrow("the caller's own failure");
    expect(await keyRows(patientId)).toEqual([]);
    expect(keyCache(db.$client).has(patientId)).toBe(false);
  });

  it("made and never written (no outbox rows to carry it), keeps the transaction from committing", async () => {
    const patientId = randomUUID();
    await expect(
      writeTransaction(db, declared(patientId), (tx) =>
        dataKeysForWriting(tx, [patientId], context.masterKeys),
      ),
    ).rejects.toThrow(`the data key made for patient ${patientId} was never written`);
    expect(await keyRows(patientId)).toEqual([]);
  });

  it("inserted by an append in a savepoint that rolls back, is inserted again by the next append", async () => {
    const created = patientCreated();
    const { patientId } = created.data;
    await writeTransaction(db, declared(patientId), async (tx) => {
      await tx
        .transaction(async (savepoint) => {
          await appendEvents(savepoint as typeof tx, context, [created]);
          throw new Error("the savepoint's own failure");
        })
        .catch(() => {});
      await appendEvents(tx, context, [created]);
    });
    expect(await keyRows(patientId)).toEqual([{ wrapped: true }]);
    const opened = await openedEvents(patientId);
    expect(opened).toEqual([expect.objectContaining({ patientId, email: created.data.email })]);
  });

  it("sealed under before a savepoint whose append rolled back, keeps the transaction from committing", async () => {
    const created = patientCreated();
    const { patientId } = created.data;
    await expect(
      writeTransaction(db, declared(patientId), async (tx) => {
        // Sealed under the key made now (as a state row's fields would be), then the only append rolled back.
        await dataKeysForWriting(tx, [patientId], context.masterKeys);
        await tx
          .transaction(async (savepoint) => {
            await appendEvents(savepoint as typeof tx, context, [created]);
            throw new Error("the savepoint's own failure");
          })
          .catch(() => {});
      }),
    ).rejects.toThrow(`the data key made for patient ${patientId} was never written`);
    expect(await keyRows(patientId)).toEqual([]);
    // A key made inside a savepoint that rolls back is made no more: the transaction may commit without it.
    await writeTransaction(db, declared(patientId), (tx) =>
      tx
        .transaction(async (savepoint) => {
          await dataKeysForWriting(savepoint as typeof tx, [patientId], context.masterKeys);
          throw new Error("the savepoint's own failure");
        })
        .catch(() => {}),
    );
    expect(await keyRows(patientId)).toEqual([]);
  });

  it("read as erased with BEGIN, refuses personal data about the patient", async () => {
    const created = patientCreated();
    const { patientId } = created.data;
    await writeTransaction(db, declared(patientId), (tx) => appendEvents(tx, context, [created]));
    await writeTransaction(db, (tx) => destroyDataKey(tx, patientId, new Date()));
    await expect(
      writeTransaction(db, declared(patientId), (tx) =>
        appendEvents(tx, context, [emailChanged(patientId, "late@example.org")]),
      ),
    ).rejects.toBeInstanceOf(PatientErased);
    expect(await openedEvents(patientId).catch((error: unknown) => error)).toBeInstanceOf(Error);
    const { rows } = await db.$client.query("SELECT count(*)::int AS n FROM outbox WHERE aggregate_id = $1", [
      patientId,
    ]);
    expect(rows).toEqual([{ n: 1 }]);
  });
});

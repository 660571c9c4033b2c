// A locked writer whose successor in the process's line waits for the same lock hands it its connection, lock
// held and transaction begun with its COMMIT (db/client.ts, attempts). These tests queue writers of one patient
// at once and check what Postgres holds after: every write committed once, in line order, chained, without a
// retry, and no advisory lock left behind; and that the lock is released after MAX_HANDOVERS in a row, or
// sooner for a session of another process that waits for it.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { advisoryKeyOf, advisoryLocksOf, heldWriter } from "../test/advisoryLocks.ts";
import {
  conditionsUpdate,
  databaseUrl,
  eventually,
  patientCreated,
  testEventContext,
} from "../test/fixtures.ts";
import {
  connectionOf,
  createDatabase,
  type Database,
  MAX_HANDOVERS,
  type WriteTransaction,
  writeTransaction,
  writeTransactionHandovers,
  writeTransactionRetries,
} from "./client.ts";
import { appendEvents } from "./outbox/appendEvents.ts";

const applicationName = `lock-handover-${randomUUID().slice(0, 8)}`;
const db = createDatabase(databaseUrl(), { max: 3, applicationName });
const otherPool = createDatabase(databaseUrl(), { max: 3, applicationName });
const observer = new pg.Client({ connectionString: databaseUrl() });
beforeAll(() => observer.connect());
afterAll(async () => {
  await Promise.all([db.$client.end(), otherPool.$client.end(), observer.end()]);
});

const patient = (id: string) => ({ aggregateType: "patient", aggregateId: id });

async function newPatient(): Promise<string> {
  const id = randomUUID();
  await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [patientCreated(id)]));
  return id;
}

/** One locked write of the patient. */
const write = (on: Database, id: string, tag: string) =>
  writeTransaction(on, { lockAggregate: patient(id) }, (tx) =>
    appendEvents(tx, testEventContext(), [conditionsUpdate(id, 1, tag)]),
  );

/** The patient's events in commit order: their versions, whether each is chained to the one before, and in how many transactions. */
async function historyOf(id: string) {
  const { rows } = await observer.query<{ version: string; chained: boolean; tx: string }>(
    `SELECT aggregate_version AS version, tx_id::text AS tx,
            previous_hash IS NOT DISTINCT FROM lag(hash) OVER (ORDER BY tx_id, position) AS chained
       FROM outbox WHERE aggregate_id = $1 ORDER BY tx_id, position`,
    [id],
  );
  return {
    versions: rows.map((row) => Number(row.version)),
    chained: rows.every((row) => row.chained),
    transactions: new Set(rows.map((row) => row.tx)).size,
  };
}

/** How many of this file's sessions wait for an advisory lock. */
const waitingSessions = () => advisoryLocksOf(observer, applicationName, { waiting: true });
/** The advisory locks this file's pools still hold (or wait for). */
const advisoryLocksHeld = () => advisoryLocksOf(observer, applicationName);

describe("writers of one aggregate in line", () => {
  it(`hand the lock on ${MAX_HANDOVERS} times in a row at most, and every write commits once, in order`, async () => {
    const id = await newPatient();
    const writers = 2 * MAX_HANDOVERS + 4;
    const handoversBefore = writeTransactionHandovers();
    const retriesBefore = writeTransactionRetries();

    const versions = await Promise.all(
      Array.from({ length: writers }, (_, index) => write(db, id, `w${index}-`)),
    );

    // Each writer that took the lock itself hands it to the next MAX_HANDOVERS, then lets it go.
    const tookTheLock = Math.ceil(writers / (MAX_HANDOVERS + 1));
    expect(writeTransactionHandovers() - handoversBefore).toBe(writers - tookTheLock);
    expect(writeTransactionRetries()).toEqual(retriesBefore);
    // In line order: writer i's event is version i + 2 (patient.created is 1).
    expect(versions.map((appended) => appended[0]?.aggregateVersion)).toEqual(
      Array.from({ length: writers }, (_, index) => index + 2),
    );
    expect(await historyOf(id)).toEqual({
      versions: Array.from({ length: writers + 1 }, (_, index) => index + 1),
      chained: true,
      transactions: writers + 1,
    });
    expect(await advisoryLocksHeld()).toBe(0);
    // Every connection is back in its pool, idle.
    expect(db.$client.totalCount).toBe(db.$client.idleCount);
  });

  it("hand it on once more at most while another session waits for it, which then gets it", async () => {
    const id = await newPatient();
    const key = await advisoryKeyOf(db, patient(id));
    const otherSession = new pg.Client({
      connectionString: databaseUrl(),
      application_name: applicationName,
    });
    await otherSession.connect();
    try {
      const handoversBefore = writeTransactionHandovers();
      const first = heldWriter(db, patient(id), (tx) =>
        appendEvents(tx, testEventContext(), [conditionsUpdate(id, 1, "w0-")]),
      );
      const writers = [
        first.done,
        ...Array.from({ length: 4 }, (_, index) => write(db, id, `w${index + 1}-`)),
      ];
      // The other session asks for the lock while the first writer holds it, and reads what it then sees.
      await first.inside;
      const otherTurn = otherSession
        .query("SELECT pg_advisory_lock($1::bigint)", [key])
        .then(() =>
          otherSession.query<{ version: string }>(
            "SELECT max(aggregate_version) AS version FROM outbox WHERE aggregate_id = $1",
            [id],
          ),
        );
      await eventually(async () => (await waitingSessions()) === 1);
      first.release();
      const seen = await otherTurn;
      // patient.created, then the first writer's and the one it handed the lock to: not the three after them.
      expect(Number(seen.rows[0]?.version)).toBe(3);
      await otherSession.query("SELECT pg_advisory_unlock($1::bigint)", [key]);
      await Promise.all(writers);
      // The first to the second; then the third, taking the lock itself, to the fourth and the fifth.
      expect(writeTransactionHandovers() - handoversBefore).toBe(3);
      expect(await historyOf(id)).toEqual({ versions: [1, 2, 3, 4, 5, 6], chained: true, transactions: 6 });
      expect(await advisoryLocksHeld()).toBe(0);
    } finally {
      await otherSession.end();
    }
  });

  it("hand nothing on to a writer of another pool: it takes the lock itself", async () => {
    const id = await newPatient();
    const handoversBefore = writeTransactionHandovers();
    await Promise.all([write(db, id, "a-"), write(otherPool, id, "b-"), write(db, id, "c-")]);
    expect(writeTransactionHandovers()).toBe(handoversBefore);
    expect(await historyOf(id)).toEqual({ versions: [1, 2, 3, 4], chained: true, transactions: 4 });
    expect(await advisoryLocksHeld()).toBe(0);
  });

  it("go on after a writer handed the lock fails: its transaction rolls back, the next takes the lock", async () => {
    const id = await newPatient();
    const handoversBefore = writeTransactionHandovers();
    const outcomes = await Promise.allSettled([
      write(db, id, "first-"),
      writeTransaction(db, { lockAggregate: patient(id) }, async (tx) => {
        await appendEvents(tx, testEventContext(), [conditionsUpdate(id, 1, "failing-")]);
        throw new Error("the second writer's own failure");
      }),
      write(db, id, "third-"),
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((outcomes[1] as PromiseRejectedResult).reason.message).toBe("the second writer's own failure");
    // The first handed on to the second; the second, failed, released the lock, which the third took.
    expect(writeTransactionHandovers() - handoversBefore).toBe(1);
    expect(await historyOf(id)).toEqual({ versions: [1, 2, 3], chained: true, transactions: 3 });
    expect(await advisoryLocksHeld()).toBe(0);
  });

  it("keep a writer's commit when the next writer's BEGIN, sent with it, fails: the next fails alone, the lock is free", async () => {
    // The next writer's BEGIN reads its aggregate's head; a role that may no longer read aggregate_versions
    // makes that read fail after the COMMIT before it in the same query has succeeded.
    const role = `handover_probe_${randomUUID().slice(0, 8)}`;
    const table = `${role}_writes`;
    await observer.query(`CREATE ROLE ${role} LOGIN PASSWORD 'probe'`);
    await observer.query(`CREATE TABLE ${table} (tag text)`);
    await observer.query(`GRANT SELECT ON aggregate_versions TO ${role}`);
    // BEGIN reads a declared patient's data key too.
    await observer.query(`GRANT SELECT ON patient_keys TO ${role}`);
    await observer.query(`GRANT INSERT ON ${table} TO ${role}`);
    const url = new URL(databaseUrl());
    url.username = role;
    url.password = "probe";
    const probe = createDatabase(url.toString(), { max: 3, applicationName });
    try {
      const id = randomUUID();
      const handoversBefore = writeTransactionHandovers();
      const insert = (tag: string) => (tx: WriteTransaction) =>
        connectionOf(tx)
          .query(`INSERT INTO ${table} (tag) VALUES ($1)`, [tag])
          .then(() => tag);
      const first = heldWriter(probe, patient(id), insert("first"));
      await first.inside;
      const second = writeTransaction(probe, { lockAggregate: patient(id) }, insert("second"));
      await observer.query(`REVOKE SELECT ON aggregate_versions FROM ${role}`);
      first.release();
      const outcomes = await Promise.allSettled([first.done, second]);

      expect(outcomes[0]).toEqual({ status: "fulfilled", value: "first" });
      expect(outcomes[1]?.status).toBe("rejected");
      expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: "42501" });
      expect(writeTransactionHandovers()).toBe(handoversBefore);
      const { rows } = await observer.query<{ tag: string }>(`SELECT tag FROM ${table}`);
      expect(rows.map((row) => row.tag)).toEqual(["first"]);
      expect(await advisoryLocksHeld()).toBe(0);
      expect(probe.$client.totalCount).toBe(probe.$client.idleCount);

      // The lock is free and the connections clean: once the role may read again, a writer goes through.
      await observer.query(`GRANT SELECT ON aggregate_versions TO ${role}`);
      await expect(writeTransaction(probe, { lockAggregate: patient(id) }, insert("third"))).resolves.toBe(
        "third",
      );
    } finally {
      await probe.$client.end();
      await observer.query(`DROP TABLE ${table}`);
      await observer.query(`REVOKE ALL ON aggregate_versions FROM ${role}`);
      await observer.query(`REVOKE ALL ON patient_keys FROM ${role}`);
      await observer.query(`DROP ROLE ${role}`);
    }
  });
});

// Writers of one aggregate in one process wait in line before they take a pooled connection: ten concurrent
// writers of one patient hold one connection between them, none waits on the aggregate's lock in Postgres,
// and a write to another patient goes through meanwhile, even with a pool of three.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { advisoryKeyOf, advisoryLocksOf, heldWriter } from "../test/advisoryLocks.ts";
import {
  conditionsUpdate,
  databaseUrl,
  eventually,
  patientCreated,
  testEventContext,
} from "../test/fixtures.ts";
import { createDatabase, writeTransaction, writeTransactionRetries } from "./client.ts";
import { appendEvents } from "./outbox/appendEvents.ts";

const WRITERS = 10;
const applicationName = `aggregate-queue-${randomUUID().slice(0, 8)}`;
const db = createDatabase(databaseUrl(), { max: 3, applicationName });
const observer = new pg.Client({ connectionString: databaseUrl() });
afterAll(async () => {
  await db.$client.end();
  await observer.end();
});

const patient = (id: string) => ({ aggregateType: "patient", aggregateId: id });

describe("writers of one hot aggregate in one process", () => {
  it(`hold one pooled connection for ${WRITERS} writers of one patient while another patient's write proceeds`, async () => {
    await observer.connect();
    const hot = randomUUID();
    const other = randomUUID();
    await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [patientCreated(hot)]));

    // The first writer holds the patient's lock inside its transaction; the other nine queue behind it.
    const first = heldWriter(db, patient(hot), (tx) =>
      appendEvents(tx, testEventContext(), [conditionsUpdate(hot, 1, "w0-")]),
    );
    await first.inside;
    let entered = 0;
    const queued = Array.from({ length: WRITERS - 1 }, (_, index) =>
      writeTransaction(db, { lockAggregate: patient(hot) }, async (tx) => {
        entered++;
        await appendEvents(tx, testEventContext(), [conditionsUpdate(hot, 1, `w${index + 1}-`)]);
      }),
    );

    await writeTransaction(db, { lockAggregate: patient(other) }, (tx) =>
      appendEvents(tx, testEventContext(), [patientCreated(other)]),
    );
    const { rows: otherRows } = await observer.query(
      "SELECT count(*)::int AS n FROM outbox WHERE aggregate_id = $1",
      [other],
    );
    expect(otherRows[0].n).toBe(1);

    // The first writer is inside its transaction; the other nine have taken no connection at all.
    const { rows: sessions } = await observer.query<{ state: string; wait_event_type: string | null }>(
      "SELECT state, wait_event_type FROM pg_stat_activity WHERE application_name = $1",
      [applicationName],
    );
    expect(sessions.filter((session) => session.state === "idle in transaction")).toHaveLength(1);
    expect(sessions.filter((session) => session.wait_event_type === "Lock")).toHaveLength(0);
    expect(db.$client.totalCount - db.$client.idleCount).toBe(1);
    expect(db.$client.waitingCount).toBe(0);
    expect(entered).toBe(0);

    first.release();
    await Promise.all([first.done, ...queued]);
    const { rows: versions } = await observer.query<{ v: string }>(
      "SELECT aggregate_version AS v FROM outbox WHERE aggregate_id = $1 ORDER BY tx_id, position",
      [hot],
    );
    expect(versions.map((row) => Number(row.v))).toEqual(
      Array.from({ length: WRITERS + 1 }, (_, index) => index + 1),
    );
  });
});

describe("a writer that finds its aggregate locked by another process", () => {
  it("takes its snapshot once it holds the lock: it sees that process's write and does not collide with it", async () => {
    const id = randomUUID();
    await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [patientCreated(id)]));
    const key = await advisoryKeyOf(db, patient(id));
    // Another process: holds the lock, and appends to the aggregate while this process's writer waits for it
    // (a write that names no aggregate to lock, so that this process's line for it does not hold it back).
    const otherProcess = new pg.Client({
      connectionString: databaseUrl(),
      application_name: applicationName,
    });
    await otherProcess.connect();
    try {
      await otherProcess.query("SELECT pg_advisory_lock($1::bigint)", [key]);
      const retriesBefore = writeTransactionRetries();
      let attempts = 0;
      const writer = writeTransaction(db, { lockAggregate: patient(id) }, async (tx) => {
        attempts++;
        const [event] = await appendEvents(tx, testEventContext(), [conditionsUpdate(id, 1, "waited-")]);
        return event?.aggregateVersion;
      });
      await eventually(async () => (await advisoryLocksOf(observer, applicationName, { waiting: true })) > 0);
      await writeTransaction(db, (tx) =>
        appendEvents(tx, testEventContext(), [conditionsUpdate(id, 1, "other-")]),
      );
      await otherProcess.query("SELECT pg_advisory_unlock($1::bigint)", [key]);
      // Version 2 went to the other process: a snapshot taken before the lock would not see it, and the
      // writer's bump would fail to serialize.
      expect(await writer).toBe(3);
      expect(attempts).toBe(1);
      expect(writeTransactionRetries()).toEqual(retriesBefore);
    } finally {
      await otherProcess.end();
    }
  });
});

describe("a writer whose aggregate's lock cannot be had", () => {
  it("fails with the lock's own error, and its connection serves the next write", async () => {
    const id = randomUUID();
    await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [patientCreated(id)]));
    const key = await advisoryKeyOf(db, patient(id));
    // One connection that gives up on a lock after 200 ms.
    const url = new URL(databaseUrl());
    url.searchParams.set("options", "-c lock_timeout=200");
    const impatient = createDatabase(url.toString(), { max: 1, applicationName });
    const holder = new pg.Client({ connectionString: databaseUrl() });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1::bigint)", [key]);
      const locked = writeTransaction(impatient, { lockAggregate: patient(id) }, async (tx) =>
        appendEvents(tx, testEventContext(), [conditionsUpdate(id, 1, "impatient-")]),
      );
      await expect(locked).rejects.toMatchObject({ code: "55P03" }); // lock_not_available
      await holder.query("SELECT pg_advisory_unlock($1::bigint)", [key]);
      // The same (only) connection: not left in the lock's aborted transaction, and holding no lock.
      const [event] = await writeTransaction(impatient, { lockAggregate: patient(id) }, (tx) =>
        appendEvents(tx, testEventContext(), [conditionsUpdate(id, 1, "after-")]),
      );
      expect(event?.aggregateVersion).toBe(2);
    } finally {
      await holder.end();
      await impatient.$client.end();
    }
  });
});

describe("writers of several aggregates at once", () => {
  it("take their locks in one order whatever order they name them in: none waits forever, none retries", async () => {
    const ids = Array.from({ length: 4 }, () => randomUUID());
    await writeTransaction(db, (tx) =>
      appendEvents(
        tx,
        testEventContext(),
        ids.map((id) => patientCreated(id)),
      ),
    );
    // Each names two or three of the four, in an order of its own: taken as named, some pairs would deadlock.
    const subsets = Array.from({ length: 24 }, (_, index) => {
      const rotated = [...ids.slice(index % 4), ...ids.slice(0, index % 4)];
      return (index % 2 === 0 ? rotated : rotated.reverse()).slice(0, 2 + (index % 2));
    });
    const retriesBefore = writeTransactionRetries();
    await Promise.all(
      subsets.map((subset, index) =>
        writeTransaction(db, { lockAggregate: subset.map(patient) }, (tx) =>
          appendEvents(
            tx,
            testEventContext(),
            subset.map((id) => conditionsUpdate(id, 1, `s${index}-`)),
          ),
        ),
      ),
    );
    expect(writeTransactionRetries()).toEqual(retriesBefore);
    // Each aggregate's versions follow one another, in commit order.
    for (const id of ids) {
      const { rows } = await db.$client.query<{ v: string }>(
        "SELECT aggregate_version AS v FROM outbox WHERE aggregate_id = $1 ORDER BY tx_id, position",
        [id],
      );
      const writes = subsets.filter((subset) => subset.includes(id)).length;
      expect(rows.map((row) => Number(row.v))).toEqual(Array.from({ length: writes + 1 }, (_, i) => i + 1));
    }
  });
});

describe("a serialization failure", () => {
  it("is retried however deep in its causes it lies (drizzle's wrapper, a consumer's record)", async () => {
    const before = writeTransactionRetries().serialization;
    let runs = 0;
    const driverError = Object.assign(new Error("could not serialize access"), { code: "40001" });
    const wrapped = new Error("a record's handler failed", {
      cause: new Error("Failed query", { cause: driverError }),
    });
    await writeTransaction(db, async () => {
      runs++;
      if (runs === 1) throw wrapped;
    });
    expect(runs).toBe(2);
    expect(writeTransactionRetries().serialization).toBe(before + 1);
  });
});

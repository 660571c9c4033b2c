// A transaction that declares the aggregates it appends to (writeTransaction's `appendsTo`, `lockAggregate`)
// reads their heads with BEGIN and bumps no row: the outbox insert writes the head back only if it is still the
// one read. These tests change the head behind the declared transaction's back, from another transaction and
// from its own, and check what the outbox and aggregate_versions hold: every chain whole, every version once.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import type { NewEvent } from "../../events/index.ts";
import { testDatabase, testEventContext } from "../../test/fixtures.ts";
import { connectionOf, createDatabase, writeTransaction, writeTransactionRetries } from "../client.ts";
import { appendEvents } from "./appendEvents.ts";
import { AggregateHeadChanged } from "./insertOutboxRows.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

const context = testEventContext();
const consentChanged = (patientId: string, granted: boolean): NewEvent => ({
  type: "patient.consent.changed",
  data: { patientId, consentType: "research", granted, changedAt: new Date().toISOString() },
});
const declared = (patientId: string) => ({ appendsTo: { aggregateType: "patient", aggregateId: patientId } });

/** The aggregate's events in order, and whether each is chained to the one before it. */
async function chainOf(patientId: string) {
  const { rows } = await db.$client.query<{ version: string; chained: boolean; granted: boolean }>(
    `SELECT aggregate_version AS version,
            previous_hash IS NOT DISTINCT FROM lag(hash) OVER (ORDER BY tx_id, position) AS chained,
            (payload -> 'data' ->> 'granted')::boolean AS granted
       FROM outbox WHERE aggregate_type = 'patient' AND aggregate_id = $1 ORDER BY tx_id, position`,
    [patientId],
  );
  const { rows: head } = await db.$client.query<{ version: string; last_hash: Buffer }>(
    "SELECT version, last_hash FROM aggregate_versions WHERE aggregate_type = 'patient' AND aggregate_id = $1",
    [patientId],
  );
  const { rows: last } = await db.$client.query<{ hash: Buffer }>(
    "SELECT hash FROM outbox WHERE aggregate_id = $1 ORDER BY tx_id DESC, position DESC LIMIT 1",
    [patientId],
  );
  return {
    events: rows.map((row) => ({ version: Number(row.version), chained: row.chained, granted: row.granted })),
    headVersion: Number(head[0]?.version),
    headIsLastHash: head[0]?.last_hash.equals(last[0]?.hash ?? Buffer.alloc(0)) ?? false,
  };
}

describe("a declared aggregate's head", () => {
  it("is read with BEGIN: the append prepares no bump of the row", async () => {
    // One connection, so that its prepared statements are this test's.
    const single = createDatabase(db.$client.options.connectionString as string, { max: 1 });
    try {
      const patientId = randomUUID();
      await writeTransaction(single, declared(patientId), (tx) =>
        appendEvents(tx, context, [consentChanged(patientId, true)]),
      );
      await writeTransaction(single, { lockAggregate: declared(patientId).appendsTo }, (tx) =>
        appendEvents(tx, context, [consentChanged(patientId, false), consentChanged(patientId, true)]),
      );
      const { rows } = await single.$client.query<{ name: string }>(
        "SELECT name FROM pg_prepared_statements WHERE name LIKE 'outbox.%' ORDER BY name",
      );
      expect(rows.map((row) => row.name)).toEqual(["outbox.insert-rows.v6"]);
      expect(await chainOf(patientId)).toEqual({
        events: [
          { version: 1, chained: true, granted: true },
          { version: 2, chained: true, granted: false },
          { version: 3, chained: true, granted: true },
        ],
        headVersion: 3,
        headIsLastHash: true,
      });
    } finally {
      await single.$client.end();
    }
  });

  for (const existing of [true, false]) {
    it(`moved by another writer after the snapshot (${existing ? "an existing" : "a new"} aggregate): the declared transaction retries and chains after it`, async () => {
      const patientId = randomUUID();
      if (existing) {
        await writeTransaction(db, (tx) => appendEvents(tx, context, [consentChanged(patientId, true)]));
      }
      const retriesBefore = writeTransactionRetries().serialization;
      let attempts = 0;
      await writeTransaction(db, declared(patientId), async (tx) => {
        attempts++;
        // The other writer declares nothing and commits between this transaction's BEGIN and its append.
        if (attempts === 1) {
          await writeTransaction(db, (other) =>
            appendEvents(other, context, [consentChanged(patientId, false)]),
          );
        }
        return appendEvents(tx, context, [consentChanged(patientId, true)]);
      });
      expect(attempts).toBe(2);
      expect(writeTransactionRetries().serialization).toBe(retriesBefore + 1);
      const before = existing ? [{ version: 1, chained: true, granted: true }] : [];
      expect(await chainOf(patientId)).toEqual({
        events: [
          ...before,
          { version: before.length + 1, chained: true, granted: false },
          { version: before.length + 2, chained: true, granted: true },
        ],
        headVersion: before.length + 2,
        headIsLastHash: true,
      });
    });
  }

  it("serves one append; a second one to the aggregate in the transaction bumps its row and chains on", async () => {
    const patientId = randomUUID();
    await writeTransaction(db, declared(patientId), async (tx) => {
      await appendEvents(tx, context, [consentChanged(patientId, true)]);
      await appendEvents(tx, context, [consentChanged(patientId, false)]);
    });
    expect(await chainOf(patientId)).toEqual({
      events: [
        { version: 1, chained: true, granted: true },
        { version: 2, chained: true, granted: false },
      ],
      headVersion: 2,
      headIsLastHash: true,
    });
  });

  it("used by an append a savepoint rolled back: the next append takes the version it freed", async () => {
    const patientId = randomUUID();
    await writeTransaction(db, declared(patientId), async (tx) => {
      await tx
        .transaction(async (savepoint) => {
          await appendEvents(savepoint as typeof tx, context, [consentChanged(patientId, false)]);
          throw new Error("rolled back to the savepoint");
        })
        .catch(() => {});
      await appendEvents(tx, context, [consentChanged(patientId, true)]);
    });
    expect(await chainOf(patientId)).toEqual({
      events: [{ version: 1, chained: true, granted: true }],
      headVersion: 1,
      headIsLastHash: true,
    });
  });

  it("changed by the transaction itself behind appendEvents' back: nothing is written, AggregateHeadChanged", async () => {
    const patientId = randomUUID();
    await writeTransaction(db, (tx) => appendEvents(tx, context, [consentChanged(patientId, true)]));
    const failure = await writeTransaction(db, declared(patientId), async (tx) => {
      await connectionOf(tx).query(
        "UPDATE aggregate_versions SET version = version + 1 WHERE aggregate_type = 'patient' AND aggregate_id = $1",
        [patientId],
      );
      return appendEvents(tx, context, [consentChanged(patientId, false)]);
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AggregateHeadChanged);
    expect((failure as Error).message).toContain(`patient ${patientId}`);
    expect(await chainOf(patientId)).toEqual({
      events: [{ version: 1, chained: true, granted: true }],
      headVersion: 1,
      headIsLastHash: true,
    });
  });
});

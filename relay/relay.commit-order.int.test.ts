// Rows become visible at commit, not at insert: the relay must publish every committed row exactly once
// even when transactions commit in another order than they inserted, and never a rolled-back one.
import { sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { type AppendedEvent, appendEvents } from "../db/outbox/appendEvents.ts";
import {
  eventually,
  kafkaBrokers,
  patientCreated,
  startRelay,
  testDatabase,
  testEventContext,
} from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import type { OutboxRelay } from "./relay.ts";

const db = testDatabase();
let relay: OutboxRelay;
/** Transactions a test left open when it failed: rolled back after it, so the next test is not held up. */
const stillOpen = new Set<() => Promise<void>>();

beforeAll(() => {
  relay = startRelay();
});
afterEach(async () => {
  for (const rollback of stillOpen) await rollback();
  stillOpen.clear();
});
afterAll(async () => {
  await relay.stop();
  await db.$client.end();
});

/** Opens a write transaction that appends `events`, then stays open until `commit()` or `rollback()`. */
async function openTransaction(events: ReturnType<typeof patientCreated>[]) {
  let finish: (outcome: "commit" | "rollback") => void = () => {};
  const decided = new Promise<"commit" | "rollback">((resolve) => {
    finish = resolve;
  });
  let appended: (value: { events: AppendedEvent[]; txId: string }) => void = () => {};
  const appendedEvents = new Promise<{ events: AppendedEvent[]; txId: string }>((resolve) => {
    appended = resolve;
  });
  const done = writeTransaction(db, async (tx) => {
    const appendedNow = await appendEvents(tx, testEventContext(), events);
    const { rows } = await tx.execute<{ txId: string }>(sql`SELECT pg_current_xact_id()::text AS "txId"`);
    appended({ events: appendedNow, txId: rows[0]?.txId as string });
    if ((await decided) === "rollback") throw new Error("rolled back on purpose");
  }).catch((error: Error) => {
    if (error.message !== "rolled back on purpose") throw error;
  });
  const { events: eventsOfTransaction, txId } = await appendedEvents;
  const settle = (outcome: "commit" | "rollback") => async () => {
    stillOpen.delete(rollback);
    finish(outcome);
    await done;
  };
  const rollback = settle("rollback");
  stillOpen.add(rollback);
  return { events: eventsOfTransaction, txId, commit: settle("commit"), rollback };
}

async function commitNow(count = 1): Promise<AppendedEvent[]> {
  return writeTransaction(db, (tx) =>
    appendEvents(
      tx,
      testEventContext(),
      Array.from({ length: count }, () => patientCreated()),
    ),
  );
}

async function relayPolls(times: number): Promise<void> {
  const target = relay.pollCount + times;
  await eventually(async () => relay.pollCount >= target);
}

describe("the polling relay with interleaved transactions", () => {
  it("publishes the event of a transaction that began first but committed after a later one and after a relay cycle", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const first = await openTransaction([patientCreated()]);
    const second = await commitNow();
    await relayPolls(3);
    await first.commit();

    const expected = [...first.events, ...second].map((event) => event.eventId);
    const records = await tap.collect({
      done: containsAll(expected),
    });
    expectExactlyOnce(records, expected);
  });

  it("holds back nothing it has skipped: a transaction open across many relay cycles still gets published", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const longOpen = await openTransaction([patientCreated(), patientCreated()]);
    const meanwhile: AppendedEvent[] = [];
    for (let round = 0; round < 5; round++) {
      meanwhile.push(...(await commitNow(3)));
      await relayPolls(2);
    }
    // The relay's cursor must not have passed the open transaction's rows.
    const checkpoint = await db.$client.query<{ behind: boolean }>(
      "SELECT tx_id < $1::xid8 AS behind FROM relay_checkpoints WHERE name = 'outbox'",
      [longOpen.txId],
    );
    expect(checkpoint.rows[0]?.behind).toBe(true);
    await longOpen.commit();

    const expected = [...longOpen.events, ...meanwhile].map((event) => event.eventId);
    const records = await tap.collect({
      done: containsAll(expected),
    });
    expectExactlyOnce(records, expected);
  });

  it("never publishes the events of a transaction that rolls back, even one that stayed open across relay cycles", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const doomed = await openTransaction([patientCreated()]);
    const committed = await commitNow();
    await relayPolls(3);
    await doomed.rollback();
    const after = await commitNow();

    const expected = [...committed, ...after].map((event) => event.eventId);
    const records = await tap.collect({
      done: containsAll(expected),
      settleMs: 1_000,
    });
    expectExactlyOnce(records, expected);
    expect(records.map((record) => record.eventId)).not.toContain(doomed.events[0]?.eventId);
    const rows = await db.$client.query("SELECT 1 FROM outbox WHERE event_id = $1", [
      doomed.events[0]?.eventId,
    ]);
    expect(rows.rowCount).toBe(0);
  });
});

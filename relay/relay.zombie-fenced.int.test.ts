// A leader that loses its Postgres session (and so its lock) with a batch in flight is a zombie: it does not
// know yet, and goes on to commit the batch after a standby has taken over and published past it. The
// standby's transactional producer fences it, so its late commit fails, it stops leading, and read_committed
// consumers see every event exactly once and in order.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import type { OutboxRecord } from "../db/outbox/pendingOutboxBatch.ts";
import {
  databaseUrl,
  eventually,
  kafkaBrokers,
  patientCreated,
  startRelay,
  testDatabase,
  testEventContext,
} from "../test/fixtures.ts";
import { deliveries, expectExactlyOnce, expectPerKeyOrder } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

const patients = Array.from({ length: 4 }, () => randomUUID());
/** Event ids per patient, in commit order. */
const committed = new Map<string, string[]>(patients.map((id) => [id, []]));

/** One event for each patient, in one transaction (so in one batch of the relay); returns their ids. */
async function writeRound(round: number): Promise<string[]> {
  const events = patients.map((patientId) =>
    round === 0
      ? patientCreated(patientId)
      : {
          type: "patient.updated" as const,
          data: { patientId, changedFields: ["allergies" as const], changes: { allergies: [`a-${round}`] } },
        },
  );
  const appended = await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), events));
  return appended.map((event, index) => {
    committed.get(patients[index] as string)?.push(event.eventId);
    return event.eventId;
  });
}

/** Ends the Postgres session that holds the relay lock: what a network cut or a failover does to a leader. */
async function terminateLeaderSession(): Promise<number> {
  const admin = new pg.Client({ connectionString: databaseUrl() });
  await admin.connect();
  try {
    const result = await admin.query<{ pid: number }>(
      `SELECT pg_terminate_backend(a.pid), a.pid FROM pg_stat_activity a
        WHERE a.datname = current_database() AND a.application_name = 'outbox-relay:outbox'
          AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)`,
    );
    return result.rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

function published(seen: Set<string>) {
  return (rows: readonly OutboxRecord[]) => {
    for (const row of rows) seen.add(row.eventId);
  };
}

const counter = async (registry: Registry, name: string) =>
  (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;

describe("a relay that lost its lock with a batch in flight", () => {
  it("is fenced by the relay that took over: its late commit publishes nothing and every event is read once", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const zombieRegistry = new Registry();
    let held: (rows: readonly OutboxRecord[]) => void = () => {};
    const batchHeld = new Promise<readonly OutboxRecord[]>((resolve) => {
      held = resolve;
    });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding = false;
    const zombie = startRelay({
      registry: zombieRegistry,
      // The batch holding our first round is sent in its transaction, then held before the commit.
      beforeCommit: async (rows) => {
        if (holding || !rows.some((row) => committed.has(row.key ?? ""))) return;
        holding = true;
        held(rows);
        await released;
      },
    });
    await eventually(async () => zombie.leader);
    const bySuccessor = new Set<string>();
    const successor = startRelay({ registry: new Registry(), onPublished: published(bySuccessor) });
    try {
      const first = new Set(await writeRound(0));
      const heldRows = await batchHeld;
      expect(heldRows.map((row) => row.eventId)).toEqual(expect.arrayContaining([...first]));

      expect(await terminateLeaderSession()).toBe(1);
      await eventually(async () => successor.leader);
      // The successor publishes the held batch itself, then more, before the zombie goes on.
      await eventually(async () => [...first].every((id) => bySuccessor.has(id)));
      const second = await writeRound(1);
      await eventually(async () => second.every((id) => bySuccessor.has(id)));

      release();
      // Its commit tried, the zombie finds its session gone and stops leading, fenced or not.
      await eventually(async () => !zombie.leader);
      const third = await writeRound(2);
      await eventually(async () => third.every((id) => bySuccessor.has(id)));
      expect({ zombie: zombie.leader, successor: successor.leader }).toEqual({
        zombie: false,
        successor: true,
      });

      const all = [...committed.values()].flat();
      const readCommitted = await tap.collect({ done: containsAll(all), timeoutMs: 60_000, settleMs: 1_000 });
      const ours = readCommitted.filter((record) => committed.has(record.key ?? ""));
      expect(ours).toHaveLength(all.length);
      expectExactlyOnce(ours, all);
      expectPerKeyOrder(ours, committed);
      expect(await counter(zombieRegistry, "outbox_relay_fenced_total")).toBe(1);

      // The zombie's copy of the first round did reach the log, in its transaction that the takeover aborted:
      // only fencing keeps it from consumers.
      const inLog = await tap.collect({
        done: (records) => records.filter((record) => first.has(record.eventId)).length >= 2 * first.size,
        timeoutMs: 30_000,
        readUncommitted: true,
      });
      const copies = deliveries(inLog.filter((record) => first.has(record.eventId)));
      expect([...copies.values()]).toEqual([...first].map(() => 2));
    } finally {
      release();
      await Promise.all([zombie.stop(), successor.stop()]);
    }
  });
});

// Switching relays in the middle of a stream of writes: polling -> Debezium -> polling loses nothing, keeps
// each patient's order, hands over to Debezium without a duplicate, and sends again only what the polling
// cursor cannot skip when handing back (same event ids, after their first delivery).
import { afterAll, describe, expect, it } from "vitest";
import { asTapped, deliveredAtLeast, recordsFromNow, useConnectWorker } from "../test/debeziumRelay.ts";
import { databaseUrl, eventually, kafkaBrokers, startRelay, testDatabase } from "../test/fixtures.ts";
import { deliveries, expectPerKeyOrder } from "../test/kafkaAssertions.ts";
import { startSequentialWriter } from "../test/sequentialWriter.ts";
import { switchToDebezium, switchToPolling } from "./switch.ts";

const db = testDatabase();
const worker = useConnectWorker();
afterAll(() => db.$client.end());

describe("relay:switch", () => {
  it("hands the stream from polling to Debezium and back while writes go on, losing and reordering nothing", async () => {
    const { connect } = worker();
    const switchOptions = {
      databaseUrl: databaseUrl(),
      kafkaBrokers: kafkaBrokers(),
      connect,
      log: () => {},
    };
    const reader = await recordsFromNow();
    // Two writers, so that transactions commit out of xid order around the handovers as they do in production.
    const writers = [0, 1].map(() => startSequentialWriter(db, { patients: 4, pauseMs: 5 }));
    const written = () => writers.reduce((sum, writer) => sum + writer.count(), 0);
    const grows = async (by: number) => {
      const from = written();
      await eventually(async () => written() >= from + by);
    };
    let relay = startRelay();
    let toDebezium: Awaited<ReturnType<typeof switchToDebezium>>;
    let toPolling: Awaited<ReturnType<typeof switchToPolling>>;
    try {
      await grows(200);
      await relay.stop();
      // Writes the polling relay no longer saw: the handover itself must publish them.
      await grows(30);
      toDebezium = await switchToDebezium(switchOptions);
      await grows(300);
      toPolling = await switchToPolling(switchOptions);
      relay = startRelay();
      await grows(200);
    } finally {
      await Promise.all(writers.map((writer) => writer.stop()));
    }

    const committedByPatient = new Map(writers.flatMap((writer) => [...writer.committed]));
    const committed = [...committedByPatient.values()].flat();
    const records = await reader.readUntil(deliveredAtLeast(committed), {
      timeoutMs: 90_000,
      settleMs: 1_000,
    });
    await relay.stop();

    expect(toDebezium.alreadyDebezium).toBe(false);
    expect(toDebezium.published).toBeGreaterThanOrEqual(30);
    expect(toPolling.alreadyPolling).toBe(false);
    const counts = deliveries(asTapped(records));
    expect(committed.filter((id) => !counts.has(id))).toEqual([]);
    expectPerKeyOrder(asTapped(records), committedByPatient);

    // Sent twice only where the cursor handed back to the polling relay cannot tell: at or after its xid.
    const duplicated = committed.filter((id) => (counts.get(id) ?? 0) > 1);
    const early = await db.$client.query<{ eventId: string }>(
      `SELECT event_id::text AS "eventId" FROM outbox WHERE event_id = ANY($1::uuid[]) AND tx_id < $2::xid8`,
      [duplicated, toPolling.pollingCursor.txId],
    );
    expect(early.rows).toEqual([]);
    console.info(
      `switch: ${committed.length} events, ${toDebezium.published} handed over to Debezium by the switch, ` +
        `${toPolling.undeliveredTransactions} left to the polling relay, ${duplicated.length} sent twice`,
    );
  });
});

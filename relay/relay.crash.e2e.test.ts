// The relay process killed with SIGKILL in the middle of a stream, then restarted: nothing is lost, and the
// only duplicates are re-sent records of the unacknowledged batch, byte-identical, with the same event ids.
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import {
  eventually,
  kafkaBrokers,
  patientCreated,
  testDatabase,
  testEventContext,
} from "../test/fixtures.ts";
import { deliveries, expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { spawnRelayProcess, untilLeader } from "../test/relayProcess.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

describe("the relay process killed with SIGKILL", () => {
  it("resumes after a restart with nothing lost; duplicates carry the same event id and bytes", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const expected: string[] = [];
    let writing = true;
    const writer = (async () => {
      while (writing) {
        const events = await writeTransaction(db, (tx) =>
          appendEvents(
            tx,
            testEventContext(),
            Array.from({ length: 20 }, () => patientCreated()),
          ),
        );
        expected.push(...events.map((event) => event.eventId));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    const first = spawnRelayProcess();
    await untilLeader(first);
    // Kill it while it is publishing: once some, but not all, of the stream has reached Kafka.
    const midStream = await tapTopic(kafkaBrokers(), "patient-events");
    await midStream.collect({ done: (seen) => seen.length >= 200, timeoutMs: 30_000, settleMs: 0 });
    first.child.kill("SIGKILL");
    expect(await first.exited).toBeNull();

    await new Promise((resolve) => setTimeout(resolve, 500));
    const second = spawnRelayProcess();
    await untilLeader(second);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    writing = false;
    await writer;

    const wanted = new Set(expected);
    const records = await tap.collect({
      done: containsAll(wanted),
      timeoutMs: 60_000,
    });
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);

    expect(expected.length).toBeGreaterThan(200);
    const ours = records.filter((record) => wanted.has(record.eventId));
    const counts = deliveries(ours);
    expect([...wanted].filter((id) => !counts.has(id))).toEqual([]);
    const firstDelivery = new Map<string, (typeof ours)[number]>();
    for (const record of ours) {
      const first = firstDelivery.get(record.eventId);
      if (first)
        expect({ key: record.key, value: record.value }).toEqual({ key: first.key, value: first.value });
      else firstDelivery.set(record.eventId, record);
    }
    // At most the one unacknowledged batch is sent again.
    const resent = [...counts.values()].filter((count) => count > 1).length;
    expect(resent).toBeLessThanOrEqual(1000);
  });

  it("stops cleanly on SIGTERM, having published what it acknowledged and checkpointed", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const relay = spawnRelayProcess();
    await untilLeader(relay);
    const events = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [patientCreated()]),
    );
    const ids = events.map((event) => event.eventId);
    const records = await tap.collect({
      done: containsAll(ids),
    });
    expectExactlyOnce(records, ids);
    await eventually(async () => {
      const result = await db.$client.query(
        "SELECT 1 FROM relay_checkpoints c JOIN outbox o ON (o.tx_id, o.position) <= (c.tx_id, c.position) WHERE c.name = 'outbox' AND o.event_id = $1",
        [ids[0]],
      );
      return result.rowCount === 1;
    });
    relay.child.kill("SIGTERM");
    expect(await relay.exited).toBe(0);
  });
});

// Kafka Connect killed with SIGKILL in the middle of a stream of writes, and started again: every committed
// event arrives, each patient's in commit order; with exactly-once source delivery, none arrives twice.
import { afterAll, describe, expect, it } from "vitest";
import { ownConnectPid, startConnect } from "../stack/connect.ts";
import { isProcessAlive } from "../stack/processes.ts";
import { asTapped, deliveredAtLeast, recordsFromNow, useDebeziumRelay } from "../test/debeziumRelay.ts";
import { eventually, kafkaBrokers, testDatabase } from "../test/fixtures.ts";
import { deliveries, expectPerKeyOrder } from "../test/kafkaAssertions.ts";
import { startSequentialWriter } from "../test/sequentialWriter.ts";

const db = testDatabase();
const debezium = useDebeziumRelay();
afterAll(() => db.$client.end());

describe("the Debezium relay when Kafka Connect is killed", () => {
  it("delivers every event committed before, during and after the crash, in order per patient", async ({
    skip,
  }) => {
    const { connect, target, localWorker } = debezium();
    const pid = localWorker ? await ownConnectPid() : undefined;
    if (pid === undefined) {
      skip(
        `the Kafka Connect worker at ${connect.url} was not started by this checkout (KAFKA_CONNECT_URL, or ` +
          "another checkout's worker on the port): not ours to kill",
      );
      return;
    }
    const reader = await recordsFromNow();
    const writer = startSequentialWriter(db, { patients: 8, pauseMs: 5 });
    try {
      await eventually(async () => writer.count() >= 300);
      process.kill(pid, "SIGKILL");
      await eventually(async () => !(await isProcessAlive(pid, "")));
      const atCrash = writer.count();
      // Writes go on while nothing relays them.
      await eventually(async () => writer.count() >= atCrash + 300);
      await startConnect(kafkaBrokers());
      // The worker finds the connector in connect-configs and restarts it from its committed offset.
      await connect.waitUntilRunning(target.connectorName, 90_000);
      const atRestart = writer.count();
      await eventually(async () => writer.count() >= atRestart + 300);
    } finally {
      await writer.stop();
    }

    const committed = [...writer.committed.values()].flat();
    const records = await reader.readUntil(deliveredAtLeast(committed), {
      timeoutMs: 90_000,
      settleMs: 2_000,
    });
    const counts = deliveries(asTapped(records));
    expect(committed.filter((id) => !counts.has(id))).toEqual([]);
    expectPerKeyOrder(asTapped(records), writer.committed);
    // KIP-618: the records and the offset after them commit in one Kafka transaction, so the restarted task
    // resumes exactly after what a read_committed consumer has seen.
    expect(committed.filter((id) => (counts.get(id) ?? 0) > 1)).toEqual([]);
  });
});

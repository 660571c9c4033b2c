// Two Kafka Connect workers in one group, the one running the outbox connector's task killed with SIGKILL
// mid-stream: the group gives the task to the survivor (the rebalance delay is 0), which resumes from the
// committed offsets; every committed event arrives once, each patient's in commit order.
import { afterAll, describe, expect, it } from "vitest";
import { ConnectClient } from "../debezium/connectRest.ts";
import {
  connectClusterFromEnv,
  connectWorkerPid,
  connectWorkerUrl,
  killConnectWorker,
  startConnectWorker,
} from "../stack/connect.ts";
import { asTapped, deliveredAtLeast, recordsFromNow, useDebeziumRelay } from "../test/debeziumRelay.ts";
import { eventually, kafkaBrokers, testDatabase } from "../test/fixtures.ts";
import { deliveries, expectPerKeyOrder } from "../test/kafkaAssertions.ts";
import { startSequentialWriter } from "../test/sequentialWriter.ts";

const db = testDatabase();
const debezium = useDebeziumRelay();
afterAll(() => db.$client.end());

describe("the Debezium relay on a Connect cluster of two workers", () => {
  it("moves the task to the surviving worker when its worker is killed, and delivers every event once", async () => {
    const { target } = debezium();
    const workers = connectClusterFromEnv();
    const pids = await Promise.all([0, 1].map((index) => connectWorkerPid(index, workers)));
    if (workers.workers < 2 || pids.includes(undefined)) {
      throw new Error(
        "the failover test kills a Connect worker, so it needs two this checkout started (CONNECT_WORKERS=2, " +
          `CONNECT_PORT; KAFKA_CONNECT_URL=${connectWorkerUrl(0, workers)}); found pids ${pids.join(", ")}`,
      );
    }
    const reader = await recordsFromNow();
    const writer = startSequentialWriter(db, { patients: 8, pauseMs: 5 });
    let killed: number | undefined;
    try {
      await eventually(async () => writer.count() >= 200);
      const before = await new ConnectClient(connectWorkerUrl(0, workers)).waitUntilRunning(
        target.connectorName,
      );
      const taskWorker = before.tasks[0]?.worker_id ?? "";
      killed = Number(taskWorker.split(":").at(-1)) - workers.basePort;
      expect([0, 1]).toContain(killed);
      const survivor = 1 - killed;
      await killConnectWorker(killed, workers);
      const atKill = writer.count();

      const survivorClient = new ConnectClient(connectWorkerUrl(survivor, workers));
      const after = await eventually(async () => {
        const status = await survivorClient.status(target.connectorName).catch(() => undefined);
        const task = status?.tasks[0];
        return task?.state === "RUNNING" && task.worker_id !== taskWorker && status;
      }, 90_000);
      expect(after.tasks[0]?.worker_id).toBe(new URL(connectWorkerUrl(survivor, workers)).host);
      await eventually(async () => writer.count() >= atKill + 300, 60_000);
    } finally {
      await writer.stop();
      if (killed !== undefined) await startConnectWorker(killed, kafkaBrokers(), workers);
    }

    const committed = [...writer.committed.values()].flat();
    const records = await reader.readUntil(deliveredAtLeast(committed), {
      timeoutMs: 120_000,
      settleMs: 2_000,
    });
    const counts = deliveries(asTapped(records));
    expect(committed.filter((id) => !counts.has(id))).toEqual([]);
    expectPerKeyOrder(asTapped(records), writer.committed);
    // KIP-618: the killed worker's open transaction is aborted and the survivor resumes after the last
    // committed offset, so a read_committed consumer sees nothing twice.
    expect(committed.filter((id) => (counts.get(id) ?? 0) > 1)).toEqual([]);
  });
});

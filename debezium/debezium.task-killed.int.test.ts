// A record Kafka refuses kills the connector's task ("Task threw an uncaught and unrecoverable exception"), but
// Connect reports the task FAILED only once its transactional producer has closed, 30 s later: until then its REST
// status says RUNNING. relay:status (and /health/ready in Debezium mode) must see the dead task by its missed
// heartbeats, name it and say what to do; once the cause is fixed, the event arrives and the status is clean.
import { afterAll, describe, expect, it } from "vitest";
import {
  deliveredAtLeast,
  refuseRecordsAbove4KiB,
  useDebeziumRelay,
  writeRefusedRecord,
} from "../test/debeziumRelay.ts";
import { databaseUrl, eventually, kafkaBrokers, testDatabase } from "../test/fixtures.ts";
import { relayStatus } from "./status.ts";

const db = testDatabase();
// A beat a second: the dead task is seen after three missed ones, well within Connect's 30 s of saying RUNNING.
const debezium = useDebeziumRelay({ heartbeatIntervalMs: 1_000 });
afterAll(() => db.$client.end());

describe("a Debezium task killed by a record Kafka refuses", () => {
  it("is reported by relay:status while Connect still says RUNNING; the cause fixed, the events arrive", async () => {
    const { connect, target } = debezium();
    const status = () => relayStatus({ databaseUrl: databaseUrl(), connect, kafkaBrokers: kafkaBrokers() });
    expect((await status()).problems).toEqual([]);

    const restore = await refuseRecordsAbove4KiB(connect, target.connectorName);
    await eventually(async () => (await status()).problems.length === 0);

    const { reader, created, refused } = await writeRefusedRecord(db);
    const written = [created, refused];

    const stalled = await eventually(async () => {
      const current = await status();
      return current.problems.length > 0 && current;
    }, 20_000);
    // Connect says FAILED once the task's producer has closed: usually 30 s later, but sooner on some runs (CI,
    // 2026-12-07), when relay:status reports that instead. Either way the dead task is named, and what to do.
    expect(stalled.problems).toEqual([
      stalled.debezium?.taskState === "FAILED"
        ? expect.stringMatching(new RegExp(`^connector ${target.connectorName} has FAILED `))
        : expect.stringMatching(
            new RegExp(
              `^connector ${target.connectorName}'s task 0 is reported RUNNING but has (never run its heartbeat|not run its heartbeat for \\d+ s) .*` +
                `restart\\?includeTasks=true$`,
            ),
          ),
    ]);

    await restore();
    const records = await reader.readUntil(deliveredAtLeast(written));
    expect(records.filter((record) => record.eventId === refused)).toHaveLength(1);
    await eventually(async () => (await status()).problems.length === 0);
  }, 90_000);
});

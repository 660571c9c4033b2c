// A record Kafka refuses kills the connector's task ("Task threw an uncaught and unrecoverable exception"), but
// Connect reports the task FAILED only once its transactional producer has closed, 30 s later: until then its REST
// status says RUNNING. relay:status (and /health/ready in Debezium mode) must see the dead task by its missed
// heartbeats, name it and say what to do; once the cause is fixed, the event arrives and the status is clean.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { deliveredAtLeast, recordsFromNow, useDebeziumRelay } from "../test/debeziumRelay.ts";
import {
  conditionsUpdate,
  databaseUrl,
  eventually,
  kafkaBrokers,
  patientCreated,
  testDatabase,
  testEventContext,
} from "../test/fixtures.ts";
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

    // Connect's producer refuses any record above max.request.size before sending it, as it refuses one above
    // the topics' max.message.bytes with the connector's own setting: the same path, with an event the write
    // path accepts (so nothing unpublishable is left once the setting is back).
    const config = (await connect.config(target.connectorName)) as Record<string, string>;
    await connect.putConnectorConfig(target.connectorName, {
      ...config,
      "producer.override.max.request.size": "4096",
    });
    await connect.waitUntilRunning(target.connectorName);
    await eventually(async () => (await status()).problems.length === 0);

    const reader = await recordsFromNow();
    const patientId = randomUUID();
    const append = async (event: Parameters<typeof appendEvents>[2][number]) => {
      const [appended] = await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [event]));
      return appended?.eventId as string;
    };
    // The refused record alone in its Kafka transaction: then the task's producer takes 30 s to close, and Connect
    // says RUNNING all along (sent after others in one transaction, it is reported FAILED at once).
    const created = await append(patientCreated(patientId));
    await reader.readUntil(deliveredAtLeast([created]), { settleMs: 0 });
    const refused = await append(conditionsUpdate(patientId, 40));
    const written = [created, refused];

    const stalled = await eventually(async () => {
      const current = await status();
      return current.problems.length > 0 && current;
    }, 20_000);
    expect(stalled.debezium?.taskState).toBe("RUNNING");
    expect(stalled.problems).toEqual([
      expect.stringMatching(
        new RegExp(
          `^connector ${target.connectorName}'s task 0 is reported RUNNING but has (never run its heartbeat|not run its heartbeat for \\d+ s) .*` +
            `restart\\?includeTasks=true$`,
        ),
      ),
    ]);

    await connect.putConnectorConfig(target.connectorName, config);
    await connect.waitUntilRunning(target.connectorName);
    const records = await reader.readUntil(deliveredAtLeast(written));
    expect(records.filter((record) => record.eventId === refused)).toHaveLength(1);
    await eventually(async () => (await status()).problems.length === 0);
  }, 90_000);
});

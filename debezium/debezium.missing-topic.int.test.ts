// A topic deleted under Debezium: Connect's producer takes the missing topic for a retriable error and its task
// retries the send for ever, still RUNNING. relay:status (and /health/ready in Debezium mode) must say so, naming
// the topic; once it is created again the event arrives and the status is clean.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { topicDefinition } from "../events/catalog.ts";
import { exampleEvent } from "../events/examples.ts";
import { createKafka } from "../kafka/client.ts";
import { useDebeziumRelay } from "../test/debeziumRelay.ts";
import { databaseUrl, eventually, kafkaBrokers, testDatabase, testEventContext } from "../test/fixtures.ts";
import { relayStatus } from "./status.ts";

// The quietest catalog topic: other work on the broker is least likely to write to it meanwhile.
const topic = topicDefinition("ai-events");
const db = testDatabase();
const debezium = useDebeziumRelay();
const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "test-debezium-missing-topic" });
const admin = kafka.admin();

beforeAll(() => admin.connect());
afterAll(async () => {
  await recreateTopic();
  await admin.disconnect();
  await db.$client.end();
});

/** Creation is refused while the deleted topic is still being removed: asked again until it is done. */
async function recreateTopic(): Promise<void> {
  await eventually(async () => {
    try {
      await applyTopics(admin, { topics: [topic], log: { info: () => {}, warn: () => {} } });
      return true;
    } catch {
      return false;
    }
  }, 60_000);
}

/** Whether the (re-created, so at first empty) topic holds `eventId`, read from its start. */
async function newTopicHolds(eventId: string): Promise<boolean> {
  const consumer = kafka.consumer({
    groupId: `test-debezium-missing-topic-${randomUUID()}`,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  let found = false;
  try {
    await consumer.subscribe({ topic: topic.name, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value?.toString().includes(eventId)) found = true;
      },
    });
    await eventually(async () => found, 60_000);
    return found;
  } finally {
    await consumer.disconnect();
  }
}

describe("a topic deleted while Debezium relays", () => {
  it("is reported by relay:status, naming it, although the task stays RUNNING; re-created, the event arrives", async () => {
    const { connect, target } = debezium();
    const status = () => relayStatus({ databaseUrl: databaseUrl(), connect, kafkaBrokers: kafkaBrokers() });
    expect((await status()).problems).toEqual([]);

    await admin.deleteTopics({ topics: [topic.name] });
    await eventually(async () => !(await admin.listTopics()).includes(topic.name));
    const [event] = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [exampleEvent("ai.model.trained")]),
    );
    // The connector has the event and cannot send it: its task is still RUNNING.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const stuck = await status();
    expect(stuck.debezium?.taskState).toBe("RUNNING");
    expect(stuck.problems).toEqual([expect.stringContaining(`topic ${topic.name} does not exist`)]);
    expect((await connect.status(target.connectorName))?.tasks[0]?.state).toBe("RUNNING");

    await recreateTopic();
    expect(await newTopicHolds(event?.eventId as string)).toBe(true);
    expect((await status()).problems).toEqual([]);
  });

  it("tells a Kafka that does not answer, and a handover begun and not finished, before what the connector says", async () => {
    const { connect } = debezium();
    const unreachable = await relayStatus({
      databaseUrl: databaseUrl(),
      connect,
      kafkaBrokers: ["127.0.0.1:1"],
    });
    expect(unreachable.problems).toEqual([
      expect.stringMatching(
        /^Kafka cannot be reached at the brokers KAFKA_BROKERS names \(.+\): Debezium's task delivers nothing$/,
      ),
    ]);

    // As a switch stopped between writing the mode and finishing the handover leaves it.
    const { rows } = await db.$client.query("SELECT handover FROM relay_mode WHERE singleton");
    const startedAt = new Date().toISOString();
    await db.$client.query(
      `UPDATE relay_mode SET handover = jsonb_build_object('state', 'handing-over', 'startedAt', $1::text) WHERE singleton`,
      [startedAt],
    );
    try {
      const status = await relayStatus({ databaseUrl: databaseUrl(), connect, kafkaBrokers: kafkaBrokers() });
      expect(status.problems).toEqual([
        `the handover to Debezium begun at ${startedAt} has not finished (a switch still running, or one stopped half way): npm run relay:switch -- debezium finishes it`,
      ]);
    } finally {
      await db.$client.query("UPDATE relay_mode SET handover = $1 WHERE singleton", [rows[0].handover]);
    }
  });
});

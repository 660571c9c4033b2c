// Debezium under the same size limits as the polling relay: one transaction whose events for one patient
// exceed the topic's max.message.bytes together reaches that patient's partition whole and in order, and the
// connector keeps running (its producer's max.request.size and batch.size, debezium/connectorConfig.ts).
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { TOPIC_MAX_MESSAGE_BYTES } from "../events/record.ts";
import { asTapped, deliveredAtLeast, recordsFromNow, useDebeziumRelay } from "../test/debeziumRelay.ts";
import { conditionsUpdate, patientCreated, testDatabase, testEventContext } from "../test/fixtures.ts";
import { expectExactlyOnce, expectPerKeyOrder } from "../test/kafkaAssertions.ts";

const db = testDatabase();
const debezium = useDebeziumRelay();
afterAll(() => db.$client.end());

describe("the Debezium relay", () => {
  it("delivers a transaction above max.message.bytes for one partition whole, in order, and keeps running", async () => {
    const { connect, target } = debezium();
    const reader = await recordsFromNow();
    const patientId = randomUUID();
    const appended = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [
        patientCreated(patientId),
        ...Array.from({ length: 16 }, (_, n) => conditionsUpdate(patientId, 300, `${n}-`)),
      ]),
    );
    const written = appended.map((event) => event.eventId);
    const bytes = appended.reduce((sum, event) => sum + JSON.stringify(event.envelope).length, 0);
    expect(bytes).toBeGreaterThan(TOPIC_MAX_MESSAGE_BYTES);

    const records = asTapped(await reader.readUntil(deliveredAtLeast(written)));
    const ours = records.filter((record) => written.includes(record.eventId));
    expectExactlyOnce(ours, written);
    expectPerKeyOrder(ours, new Map([[patientId, written]]));
    const status = await connect.status(target.connectorName);
    expect(status?.tasks.map((task) => task.state)).toEqual(["RUNNING"]);
  });
});

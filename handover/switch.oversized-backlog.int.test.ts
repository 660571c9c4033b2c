// A handover with a backlog bigger than Kafka takes in one request for one partition: relay:switch publishes
// what the polling relay left in sends cut as the relay cuts them (under the topic's max.message.bytes), so
// the handover delivers it all, in order, instead of being refused (MESSAGE_TOO_LARGE) with the stream stopped.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { TOPIC_MAX_MESSAGE_BYTES } from "../events/record.ts";
import { useConnectWorker } from "../test/debeziumRelay.ts";
import {
  conditionsUpdate,
  databaseUrl,
  kafkaBrokers,
  patientCreated,
  startRelay,
  testDatabase,
  testEventContext,
} from "../test/fixtures.ts";
import { expectExactlyOnce, expectPerKeyOrder } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { switchToDebezium, switchToPolling } from "./switch.ts";

const db = testDatabase();
const worker = useConnectWorker();
afterAll(() => db.$client.end());

describe("relay:switch with a backlog above max.message.bytes for one partition", () => {
  it("hands it over in several sends, every event once and in order", async () => {
    const switchOptions = {
      databaseUrl: databaseUrl(),
      kafkaBrokers: kafkaBrokers(),
      connect: worker().connect,
      log: () => {},
    };
    // The polling relay has caught up and stopped: what follows is the switch's to publish.
    const relay = startRelay();
    await relay.stop();

    const patientId = randomUUID();
    const written: string[] = [];
    const [created] = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [patientCreated(patientId)]),
    );
    written.push(created?.eventId as string);
    for (let n = 0; n < 16; n++) {
      const [updated] = await writeTransaction(db, (tx) =>
        appendEvents(tx, testEventContext(), [conditionsUpdate(patientId, 300, `${n}-`)]),
      );
      written.push(updated?.eventId as string);
    }
    const { rows: sizes } = await db.$client.query<{ bytes: number }>(
      "SELECT sum(octet_length(payload::text))::int AS bytes FROM outbox WHERE event_id = ANY($1::uuid[])",
      [written],
    );
    expect(sizes[0]?.bytes).toBeGreaterThan(TOPIC_MAX_MESSAGE_BYTES);

    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const toDebezium = await switchToDebezium(switchOptions);
    try {
      expect(toDebezium.published).toBeGreaterThanOrEqual(written.length);
      const records = await tap.collect({ done: containsAll(written), timeoutMs: 60_000 });
      const mine = records.filter((record) => record.key === patientId);
      expectExactlyOnce(mine, written);
      expectPerKeyOrder(mine, new Map([[patientId, written]]));
    } finally {
      await switchToPolling(switchOptions);
    }
  });
});

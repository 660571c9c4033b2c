// The relay tests' reader and order check against dead-letter copies: on a shared broker, other runs' consumers
// park this run's records they cannot open in the dead-letter topics, with the same key, event id and partition
// number, at offsets of another log. Read as deliveries, such copies once stood first in a patient's order (the
// relay:switch test failed on "first deliveries" that were another run's dead letters).
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deadLetterTopicName } from "../events/index.ts";
import { createIdempotentProducer, createKafka, type Producer } from "../kafka/client.ts";
import { asTapped, deliveredAtLeast, recordsFromNow } from "./debeziumRelay.ts";
import { kafkaBrokers } from "./fixtures.ts";
import { expectPerKeyOrder } from "./kafkaAssertions.ts";

let producer: Producer;
beforeAll(async () => {
  producer = createIdempotentProducer(
    createKafka({ brokers: kafkaBrokers(), clientId: "dead-letter-copies" }),
  );
  await producer.connect();
});
afterAll(() => producer.disconnect());

describe("a dead-letter copy of a relayed record", () => {
  it("is neither read as a delivery nor ordered among its key's records", async () => {
    const key = randomUUID();
    const [first, second] = [randomUUID(), randomUUID()];
    const record = (eventId: string) => ({ key, value: JSON.stringify({ eventId }) });
    const reader = await recordsFromNow();
    // Parked first and in the right order, as a consumer of another run would: the relayed records that follow
    // are out of order, which only the relayed topic may tell.
    await producer.send({
      topic: deadLetterTopicName("patient-events"),
      messages: [record(first), record(second)],
      acks: -1,
    });
    await producer.send({ topic: "patient-events", messages: [record(second), record(first)], acks: -1 });

    const records = await reader.readUntil(deliveredAtLeast([first, second]), { settleMs: 1_000 });
    const ofKey = records.filter((candidate) => candidate.key === key);
    expect(ofKey.map((candidate) => [candidate.topic, candidate.eventId])).toEqual([
      ["patient-events", second],
      ["patient-events", first],
    ]);
    // Had the copies been read anyway, sorted by offset among the relayed records they would have hidden that
    // reordering (their offsets, in a younger log, come first); the order check refuses a key spread over two
    // logs instead.
    const copies = [first, second].map((eventId, offset) => ({
      ...(ofKey.find((candidate) => candidate.eventId === eventId) as (typeof ofKey)[number]),
      topic: deadLetterTopicName("patient-events"),
      offset: BigInt(offset),
    }));
    expect(() =>
      expectPerKeyOrder(asTapped([...copies, ...ofKey]), new Map([[key, [first, second]]])),
    ).toThrow(/topic-partitions of key/);
  });
});

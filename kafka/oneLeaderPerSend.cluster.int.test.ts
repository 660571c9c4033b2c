// On a three-broker cluster, a send whose records have three partition leaders: the idempotent producer (replay,
// the dead-letter queue, redrive) asks one leader at a time, never two at once, so that kafkajs' retry of one
// leader's answer cannot reach a broker whose request is still in flight (kafka/oneLeaderPerSend.ts).
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kafkaBrokers } from "../test/fixtures.ts";
import { ownCluster } from "../test/kafkaCluster.ts";
import { type Admin, createIdempotentProducer, createKafka, type Message } from "./client.ts";
import { readTopicRange } from "./readTopicRange.ts";

const PARTITIONS = 6;
const topic = `one-leader-per-send-${randomUUID()}`;
const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "one-leader-per-send" });
let admin: Admin;

beforeAll(async () => {
  ownCluster();
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 3 }],
    waitForLeaders: true,
  });
});
afterAll(async () => {
  await admin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin?.disconnect();
});

interface ProduceRequest {
  broker: string;
  sentAt: number;
  answeredAt: number;
}

describe("an idempotent producer's send to three leaders", () => {
  it("asks one leader at a time and writes each record once", async () => {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const leaders = new Set(topics[0]?.partitions.map((partition) => partition.leader));
    expect(leaders.size).toBe(3);

    const producer = createIdempotentProducer(kafka);
    const produceRequests: ProduceRequest[] = [];
    producer.on(producer.events.REQUEST, ({ payload }) => {
      if (payload.apiName === "Produce")
        produceRequests.push({
          broker: payload.broker,
          sentAt: payload.sentAt,
          answeredAt: payload.sentAt + payload.duration,
        });
    });
    await producer.connect();
    const messages: Message[] = Array.from({ length: 120 }, (_, index) => ({
      key: `aggregate-${index % 30}`,
      value: `event-${index}`,
    }));
    try {
      await producer.sendBatch({ topicMessages: [{ topic, messages: messages.slice(0, 60) }] });
      await producer.send({ topic, messages: messages.slice(60) });
    } finally {
      await producer.disconnect();
    }

    // Two sends to three leaders each: six Produce requests, one leader apiece, none overlapping another.
    expect(new Set(produceRequests.map((request) => request.broker)).size).toBe(3);
    expect(produceRequests).toHaveLength(6);
    const inOrder = [...produceRequests].sort((a, b) => a.sentAt - b.sentAt);
    for (let index = 1; index < inOrder.length; index++) {
      const [before, after] = [inOrder[index - 1], inOrder[index]] as [ProduceRequest, ProduceRequest];
      expect(after.sentAt, `${after.broker} asked before ${before.broker} answered`).toBeGreaterThanOrEqual(
        before.answeredAt,
      );
    }

    const ends = new Map(
      (await admin.fetchTopicOffsets(topic)).map(({ partition, offset }) => [partition, BigInt(offset)]),
    );
    const stored = await readTopicRange(kafka, topic, new Map(), ends);
    expect(stored.map(({ message }) => message.value?.toString()).sort()).toEqual(
      messages.map((message) => String(message.value)).sort(),
    );
    // Each key's records in the order sent.
    for (let key = 0; key < 30; key++) {
      const ofKey = stored.filter(({ message }) => message.key?.toString() === `aggregate-${key}`);
      expect(ofKey.map(({ message }) => message.value?.toString())).toEqual(
        [0, 1, 2, 3].map((round) => `event-${round * 30 + key}`),
      );
    }
  });
});

import { type Message, Partitioners, type PartitionMetadata } from "kafkajs";
import { describe, expect, it } from "vitest";
import { batchesPerLeader, type LeaderBook } from "./oneLeaderPerSend.ts";

/** Six partitions led by brokers 1, 2 and 3 in turn. */
const partitionMetadata: PartitionMetadata[] = Array.from({ length: 6 }, (_, partitionId) => ({
  partitionId,
  leader: (partitionId % 3) + 1,
  partitionErrorCode: 0,
  replicas: [1, 2, 3],
  isr: [1, 2, 3],
}));
const leaders: LeaderBook = new Map([
  ["patient-events", partitionMetadata],
  ["audit-events", partitionMetadata],
]);
const kafkajsPartition = Partitioners.DefaultPartitioner();
const leaderOf = (topic: string, message: Message) =>
  partitionMetadata[kafkajsPartition({ topic, partitionMetadata, message })]?.leader;

const keyed = (count: number, prefix: string): Message[] =>
  Array.from({ length: count }, (_, index) => ({
    key: `${prefix}-${index % 7}`,
    value: `${prefix}-${index}`,
  }));

describe("a send cut into one send per partition leader", () => {
  it("sends each message once, each batch to one leader only, each partition's messages in their order", () => {
    const patients = keyed(40, "patient");
    const audits = keyed(25, "audit");
    const batches = batchesPerLeader(
      {
        acks: -1,
        topicMessages: [
          { topic: "patient-events", messages: patients },
          { topic: "audit-events", messages: audits },
        ],
      },
      leaders,
    );

    expect(batches.length).toBeGreaterThan(1);
    for (const batch of batches) {
      expect(batch.acks).toBe(-1);
      const ofBatch = new Set(
        (batch.topicMessages ?? []).flatMap(({ topic, messages }) => messages.map((m) => leaderOf(topic, m))),
      );
      expect(ofBatch.size).toBe(1);
    }
    for (const [topic, sent] of [
      ["patient-events", patients],
      ["audit-events", audits],
    ] as const) {
      const received = batches.flatMap(
        (batch) => batch.topicMessages?.find((ofTopic) => ofTopic.topic === topic)?.messages ?? [],
      );
      expect(new Set(received)).toEqual(new Set(sent));
      expect(received).toHaveLength(sent.length);
      // Within a partition (one key here), the order sent is the order given.
      for (const key of new Set(sent.map((message) => message.key))) {
        expect(received.filter((message) => message.key === key)).toEqual(
          sent.filter((message) => message.key === key),
        );
      }
    }
  });

  it("sends messages it cannot place (no key, or a topic whose leaders are unknown) together, last", () => {
    const unkeyed: Message = { value: "no key" };
    const unknownTopic: Message = { key: "k", value: "unknown topic" };
    const batches = batchesPerLeader(
      {
        topicMessages: [
          { topic: "patient-events", messages: [unkeyed, ...keyed(3, "patient")] },
          { topic: "not-described", messages: [unknownTopic] },
        ],
      },
      leaders,
    );
    expect(batches.at(-1)?.topicMessages).toEqual([
      { topic: "patient-events", messages: [unkeyed] },
      { topic: "not-described", messages: [unknownTopic] },
    ]);
  });
});

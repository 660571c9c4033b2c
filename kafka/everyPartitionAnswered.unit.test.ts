import type { Message, PartitionerArgs, ProducerBatch, RecordMetadata } from "kafkajs";
import { describe, expect, it } from "vitest";
import {
  type PartitionLedger,
  PartitionsNotAnswered,
  recordingPartitioner,
  sendEveryPartitionAnswered,
} from "./everyPartitionAnswered.ts";

const partitionMetadata = Array.from({ length: 12 }, (_, partitionId) => ({
  partitionId,
  leader: (partitionId % 3) + 1,
  partitionErrorCode: 0,
  replicas: [1, 2, 3],
  isr: [1, 2, 3],
})) as PartitionerArgs["partitionMetadata"];

const keys = [
  "24257e12-f50e-4817-b4af-523b0a272ca0", // audit-events/4 on 12 partitions (Java's murmur2)
  "860b3d08-53d8-4fb5-9ca5-ab87feb78d5d", // audit-events/10
  "4c2131ad-226b-4c91-9f41-8981db2a6908", // audit-events/9
];

/**
 * What kafkajs does with a batch: its partitioner places each message, then the brokers answer per partition.
 * `answersFor` picks which placed partitions get answers (kafkajs' lost ones get none).
 */
function kafkajsLike(ledger: PartitionLedger, answersFor: (partitions: number[]) => number[]) {
  const partition = recordingPartitioner(ledger)();
  return async (batch: ProducerBatch): Promise<RecordMetadata[]> =>
    (batch.topicMessages ?? []).flatMap(({ topic, messages }) => {
      const placed = [
        ...new Set(messages.map((message) => partition({ topic, partitionMetadata, message }))),
      ];
      return answersFor(placed).map((answered) => ({ topicName: topic, partition: answered, errorCode: 0 }));
    });
}

const batchOf = (messages: Message[]): ProducerBatch => ({
  acks: -1,
  topicMessages: [{ topic: "audit-events", messages }],
});

describe("a send is done only when every partition it wrote to answered once", () => {
  it("places messages as kafkajs' default (Java-compatible) partitioner does", async () => {
    const ledger: PartitionLedger = new WeakMap();
    const messages = keys.map((key) => ({ key, value: "{}" }));
    await sendEveryPartitionAnswered(
      ledger,
      batchOf(messages),
      kafkajsLike(ledger, (placed) => placed),
    );
    expect(messages.map((message) => ledger.get(message))).toEqual([4, 10, 9]);
  });

  it("resolves with the answers when each partition answered", async () => {
    const ledger: PartitionLedger = new WeakMap();
    const answers = await sendEveryPartitionAnswered(
      ledger,
      batchOf(keys.map((key) => ({ key, value: "{}" }))),
      kafkajsLike(ledger, (placed) => placed),
    );
    expect(answers.map((answer) => answer.partition).sort((a, b) => a - b)).toEqual([4, 9, 10]);
  });

  it("fails, naming them, when partitions had no answer (kafkajs' retry after a broker died)", async () => {
    const ledger: PartitionLedger = new WeakMap();
    const sent = sendEveryPartitionAnswered(
      ledger,
      batchOf(keys.map((key) => ({ key, value: "{}" }))),
      kafkajsLike(ledger, (placed) => placed.filter((partition) => partition === 9)),
    );
    await expect(sent).rejects.toThrow(PartitionsNotAnswered);
    await expect(sent).rejects.toMatchObject({
      unanswered: ["audit-events/10", "audit-events/4"],
      answeredTwice: [],
      retriable: true,
    });
  });

  it("fails when a partition answered twice (written twice within the send)", async () => {
    const ledger: PartitionLedger = new WeakMap();
    const sent = sendEveryPartitionAnswered(
      ledger,
      batchOf(keys.map((key) => ({ key, value: "{}" }))),
      kafkajsLike(ledger, (placed) => [...placed, 10]),
    );
    await expect(sent).rejects.toMatchObject({ unanswered: [], answeredTwice: ["audit-events/10"] });
  });

  it("trusts a send without acknowledgements", async () => {
    const ledger: PartitionLedger = new WeakMap();
    const send = kafkajsLike(ledger, () => []);
    const batch = batchOf([{ key: keys[0] as string, value: "{}" }]);
    await expect(sendEveryPartitionAnswered(ledger, { ...batch, acks: -1 }, send)).rejects.toMatchObject({
      unanswered: ["audit-events/4"],
    });
    await expect(sendEveryPartitionAnswered(ledger, { ...batch, acks: 0 }, send)).resolves.toEqual([]);
  });
});

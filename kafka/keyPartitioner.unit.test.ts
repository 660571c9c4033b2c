// The partitioner must place every key where Java's clients (and so Debezium's Connect producer) and kafkajs'
// own DefaultPartitioner place it: a key in another partition would split an aggregate's events between
// partitions, and their order with them.
import { randomBytes, randomUUID } from "node:crypto";
import { Partitioners, type PartitionMetadata } from "kafkajs";
import { describe, expect, it } from "vitest";
import { keyPartitioner, murmur2, partitionOfKey } from "./keyPartitioner.ts";

const metadata = (partitions: number, down: number[] = []): PartitionMetadata[] =>
  Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: down.includes(partitionId) ? -1 : 1,
    partitionErrorCode: 0,
    replicas: [1],
    isr: [1],
  }));

describe("murmur2", () => {
  it("gives the values of Java's Utils.murmur2 (Kafka's UtilsTest)", () => {
    const cases: Array<[string, number]> = [
      ["21", -973932308],
      ["foobar", -790332482],
      ["a-little-bit-long-string", -985981536],
      ["a-little-bit-longer-string", -1486304829],
      ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
      ["abc", 479470107],
    ];
    for (const [key, hash] of cases) expect(murmur2(Buffer.from(key)), key).toBe(hash);
  });
});

describe("the key partitioner", () => {
  const kafkajs = Partitioners.DefaultPartitioner();
  const ours = keyPartitioner();

  it("places keys of every length and script where kafkajs' DefaultPartitioner does, for any partition count", () => {
    const keys = [
      "",
      ...Array.from({ length: 500 }, () => randomUUID()),
      ...Array.from({ length: 200 }, (_, length) => "k".repeat(length)),
      "patient-é",
      "患者-42",
      "🩺 emoji key",
      "\u0000nul",
      "erased-login:0123456789abcdef",
      "x".repeat(5_000),
    ];
    for (const partitions of [1, 3, 6, 12, 50, 1_000]) {
      const partitionMetadata = metadata(partitions);
      for (const key of keys) {
        const message = { key, value: null };
        expect(ours({ topic: "t", partitionMetadata, message }), key).toBe(
          kafkajs({ topic: "t", partitionMetadata, message }),
        );
      }
    }
  });

  it("places byte keys as kafkajs does", () => {
    const partitionMetadata = metadata(12);
    for (let length = 0; length < 64; length++) {
      const key = randomBytes(length);
      const message = { key, value: null };
      expect(ours({ topic: "t", partitionMetadata, message })).toBe(
        kafkajs({ topic: "t", partitionMetadata, message }),
      );
    }
  });

  it("keeps a message's own partition, and spreads keyless messages over the partitions with a leader", () => {
    const partitionMetadata = metadata(6, [1, 4]);
    expect(ours({ topic: "t", partitionMetadata, message: { key: "k", value: null, partition: 4 } })).toBe(4);
    const placed = new Set(
      Array.from({ length: 40 }, () => ours({ topic: "t", partitionMetadata, message: { value: null } })),
    );
    expect([...placed].sort()).toEqual([0, 2, 3, 5]);
  });

  it("agrees with partitionOfKey for a string and its UTF-8 bytes", () => {
    for (const key of ["", "a", "患者", randomUUID()])
      expect(partitionOfKey(key, 12)).toBe(partitionOfKey(Buffer.from(key), 12));
  });
});

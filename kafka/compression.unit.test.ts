// Snappy as other clients write it: Kafka's Java producer in snappy-java's framing (blocks of 32 KiB), some other clients
// as one raw block. kafkajs reads neither by itself: a batch of either stopped every consumer of its topic.
import { randomBytes } from "node:crypto";
import kafkajs from "kafkajs";
import { compressSync } from "snappy";
import { describe, expect, it } from "vitest";
import { compressionType, unsnappy, xerialSnappy } from "./compression.ts";

const { CompressionCodecs } = kafkajs;

describe("Snappy", () => {
  // Text that compresses (records of JSON), and random bytes that do not, over several 32 KiB blocks.
  const batches = [
    Buffer.alloc(0),
    Buffer.from('{"eventType":"patient.created"}'.repeat(3_000)),
    randomBytes(100_000),
  ];

  it.each(batches)(
    "reads snappy-java's framing, block by block, as Kafka's Java producer writes it (%#)",
    (batch) => {
      const framed = xerialSnappy(batch);
      // The header: magic, version 1, oldest compatible version 1.
      expect(framed.subarray(0, 16).toString("hex")).toBe("82534e41505059000000000100000001");
      expect(unsnappy(framed)).toEqual(batch);
    },
  );

  it.each(batches)("reads one raw block, what some other clients write (%#)", (batch) => {
    expect(unsnappy(compressSync(batch))).toEqual(batch);
  });

  it("refuses a framed batch cut off in a block, or in a block's length, rather than read part of it", () => {
    const framed = xerialSnappy(batches[1] as Buffer);
    expect(() => unsnappy(framed.subarray(0, framed.length - 1))).toThrow(
      "a Snappy batch cut off in a block",
    );
    expect(() => unsnappy(framed.subarray(0, 18))).toThrow("a Snappy batch cut off in a block's length");
  });

  it("is registered with kafkajs, which has no codec of its own for it", async () => {
    const codec = (
      CompressionCodecs as Record<number, () => { decompress(buffer: Buffer): Promise<Buffer> | Buffer }>
    )[compressionType("snappy")];
    expect(codec).toBeDefined();
    expect(await codec?.().decompress(xerialSnappy(batches[1] as Buffer))).toEqual(batches[1]);
  });
});

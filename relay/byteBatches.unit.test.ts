// The relay's sends: in order, each topic's records under its max.message.bytes, never empty; and which Kafka
// errors a retry cannot cure.
import { describe, expect, it } from "vitest";
import type { OutboxRecord } from "../db/outbox/pendingOutboxBatch.ts";
import { BATCH_OVERHEAD_BYTES } from "../events/record.ts";
import { nonRetriableKafkaError } from "../kafka/errors.ts";
import { firstByteBatch } from "./byteBatches.ts";

function row(n: number, topic: string, valueBytes: number): OutboxRecord {
  return {
    txId: String(100 + n),
    position: String(n),
    eventId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    eventType: "patient.updated",
    topic,
    key: "k",
    value: "v".repeat(valueBytes),
    correlationId: "00000000-0000-4000-8000-000000000000",
    traceparent: null,
    tracestate: null,
    createdAtMs: 0,
  };
}

describe("firstByteBatch", () => {
  it("takes the longest prefix whose records fit under each topic's limit", () => {
    const rows = [row(1, "a", 400), row(2, "b", 400), row(3, "a", 400), row(4, "a", 400), row(5, "b", 10)];
    const limits = new Map([
      ["a", BATCH_OVERHEAD_BYTES + 1_200],
      ["b", 10_000],
    ]);
    expect(firstByteBatch(rows, limits).map((r) => r.position)).toEqual(["1", "2", "3"]);
  });

  it("sends a record bigger than its topic's limit alone, so Kafka's refusal names it", () => {
    const rows = [row(1, "a", 5_000), row(2, "a", 10)];
    expect(firstByteBatch(rows, new Map([["a", 1_000]])).map((r) => r.position)).toEqual(["1"]);
  });

  it("takes everything when it all fits", () => {
    const rows = [row(1, "a", 10), row(2, "a", 10)];
    expect(firstByteBatch(rows, new Map([["a", 1_048_588]]))).toHaveLength(2);
  });
});

describe("nonRetriableKafkaError", () => {
  it("names the broker's refusal inside kafkajs's wrappers, and leaves retriable failures alone", () => {
    const tooLarge = Object.assign(new Error("too large"), { type: "MESSAGE_TOO_LARGE", retriable: false });
    const wrapped = Object.assign(new Error("wrapped"), { retriable: false, cause: tooLarge });
    expect(nonRetriableKafkaError(wrapped)).toBe("MESSAGE_TOO_LARGE");
    const notLeader = Object.assign(new Error("moving"), {
      type: "NOT_LEADER_FOR_PARTITION",
      retriable: true,
    });
    const exhausted = Object.assign(new Error("retries exhausted"), { retriable: false, cause: notLeader });
    expect(nonRetriableKafkaError(exhausted)).toBeNull();
    expect(nonRetriableKafkaError(new Error("Connection error: ECONNREFUSED"))).toBeNull();
  });
});

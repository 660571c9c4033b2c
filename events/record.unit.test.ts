// Records bound for one topic are cut into sends that each fit under its max.message.bytes, in order.
import { describe, expect, it } from "vitest";
import { BATCH_OVERHEAD_BYTES, recordBytes, sendsUnderLimit } from "./record.ts";

const record = (value: string) => ({ key: "k", value, headers: { eventId: "e" } });

describe("sendsUnderLimit", () => {
  it("keeps every record, in order, and no send over the limit", () => {
    const records = Array.from({ length: 40 }, (_, index) => record(`${index}`.padEnd(3_000, "x")));
    const limit = 20_000;
    const sends = sendsUnderLimit(records, limit);
    expect(sends.flat()).toEqual(records);
    expect(sends.length).toBeGreaterThan(1);
    for (const send of sends) {
      const bytes = send.reduce((sum, one) => sum + recordBytes(one), BATCH_OVERHEAD_BYTES);
      expect(bytes).toBeLessThanOrEqual(limit);
    }
  });

  it("sends a record larger than the limit alone, so that nothing after it is held back with it", () => {
    const sends = sendsUnderLimit([record("a"), record("b".repeat(50_000)), record("c")], 20_000);
    expect(sends.map((send) => send.map(({ value }) => value.slice(0, 1)))).toEqual([["a"], ["b"], ["c"]]);
  });

  it("counts Buffers and header lists as Kafka does: by their bytes", () => {
    const asBuffer = {
      key: Buffer.from("k"),
      value: Buffer.from("é"),
      headers: { h: [Buffer.from("ab"), "c"] },
    };
    const asText = { key: "k", value: "é", headers: { h: "abc" } };
    expect(recordBytes(asBuffer)).toBe(recordBytes(asText) + 10 + 1);
  });
});

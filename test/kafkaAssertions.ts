// Assertions on what a topic holds: delivery counts by event id, and per-key order and partition; every
// record they look at must also be a message of the published /asyncapi.json (test/asyncapiRecords.ts).
import { expect } from "vitest";
import { expectPublished } from "./asyncapiRecords.ts";
import type { TappedRecord } from "./kafkaTap.ts";

/** How many times each event id was delivered. */
export function deliveries(records: TappedRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const record of records) counts.set(record.eventId, (counts.get(record.eventId) ?? 0) + 1);
  return counts;
}

export function expectExactlyOnce(records: TappedRecord[], eventIds: Iterable<string>): void {
  const counts = deliveries(records);
  const expected = [...eventIds];
  const wanted = new Set(expected);
  // Only the test's own records: other test files write to the same topics, some on purpose off contract.
  expectPublished(records.filter((record) => wanted.has(record.eventId)));
  const missing = expected.filter((id) => !counts.has(id));
  const duplicated = expected.filter((id) => (counts.get(id) ?? 0) > 1);
  expect({ missing, duplicated }).toEqual({ missing: [], duplicated: [] });
}

/**
 * For each key: all its records are on one partition of one topic, and their event ids, in offset order, with
 * redeliveries dropped, are the expected sequence. Offsets order records within one log only: records of the
 * key found on another topic (a dead-letter copy, say) fail the check instead of being sorted among them.
 */
export function expectPerKeyOrder(records: TappedRecord[], expectedByKey: Map<string, string[]>): void {
  for (const [key, expected] of expectedByKey) {
    const ofKey = records.filter((record) => record.key === key);
    expect(
      [...new Set(ofKey.map((record) => `${record.topic}/${record.partition}`))],
      `topic-partitions of key ${key}`,
    ).toHaveLength(1);
    expectPublished(ofKey);
    const inOffsetOrder = ofKey
      .sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)))
      .map((record) => record.eventId);
    const firstDeliveries = inOffsetOrder.filter((id, index) => inOffsetOrder.indexOf(id) === index);
    expect(firstDeliveries, `order of key ${key}`).toEqual(expected);
  }
}

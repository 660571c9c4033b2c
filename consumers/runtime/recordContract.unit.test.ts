// The record around a valid event: keyed as the catalog keys its topic, by its aggregate's id or by its own id, and
// with the envelope's eventId, eventType and correlationId as headers, once each.
import { describe, expect, it } from "vitest";
import { exampleData } from "../../events/examples.ts";
import type { EventType, TypedEnvelope } from "../../events/index.ts";
import { MAX_EVENT_BYTES, recordBytes } from "../../events/record.ts";
import { partitionOfKey } from "../../kafka/keyPartitioner.ts";
import { misplacedRecord, oversizedRecord, recordContractBreach } from "./recordContract.ts";

const eventId = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const correlationId = "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9";

function envelopeOf<T extends EventType>(eventType: T): TypedEnvelope {
  return {
    eventId,
    eventType,
    timestamp: "2024-01-15T10:30:00Z",
    source: "patient-service",
    version: "1.0",
    data: exampleData[eventType],
    metadata: { correlationId, userId: null, ipAddress: null, userAgent: null, sessionId: null },
  } as TypedEnvelope;
}

const consent = envelopeOf("patient.consent.changed");
const patientId = exampleData["patient.consent.changed"].patientId;
const access = envelopeOf("audit.data.accessed");

/** The record of `envelope` under `key`, with the relay's headers. */
const record = (key: string | null, envelope: TypedEnvelope = consent) => ({
  key: key === null ? null : Buffer.from(key),
  headers: { eventId, eventType: envelope.eventType, correlationId },
});

describe("the record contract around an event", () => {
  it("holds for a record keyed by its aggregate's id, or on audit-events by its event's id", () => {
    expect(recordContractBreach(record(patientId), consent)).toBeNull();
    expect(recordContractBreach(record(eventId, access), access)).toBeNull();
  });

  it("is broken by another key, or none, named by its field and never quoted", () => {
    for (const key of ["Ada Lovelace", patientId.toUpperCase(), eventId, null]) {
      expect(recordContractBreach(record(key), consent)).toEqual({
        problem: "wrong-key",
        message: "the record's key is not the patient id of its patient.consent.changed event",
      });
    }
    expect(recordContractBreach(record(patientId, access), access)).toMatchObject({
      problem: "wrong-key",
      message: "the record's key is not the eventId of its audit.data.accessed event",
    });
  });

  it("is broken by headers missing, given twice or not the envelope's, named and never quoted", () => {
    const withHeaders = (headers: Record<string, string | string[] | undefined>) => ({
      ...record(patientId),
      headers: { ...record(patientId).headers, ...headers },
    });
    const breach = (headers: Record<string, string | string[] | undefined>) =>
      recordContractBreach(withHeaders(headers), consent);
    expect(breach({ eventType: "patient.deleted" })).toEqual({
      problem: "wrong-headers",
      message: "the record's eventType header is not the envelope's eventType",
    });
    expect(breach({ eventId: undefined, correlationId: "Ada Lovelace" })).toEqual({
      problem: "wrong-headers",
      message:
        "the record's eventId header is missing, correlationId header is not the envelope's correlationId",
    });
    expect(breach({ eventId: [eventId, eventId] })?.message).toBe(
      "the record's eventId header is given 2 times",
    );
    // The trace headers are the writer's to give or not.
    expect(breach({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" })).toBeNull();
  });

  it("is broken by a record larger than the write path lets an event be, not counting a re-drive's headers", () => {
    const sized = (valueBytes: number) => {
      const { key, headers } = record(patientId);
      return { key, headers, value: Buffer.alloc(valueBytes, "x") };
    };
    const largest = sized(MAX_EVENT_BYTES - recordBytes(sized(0)));
    expect(recordBytes(largest)).toBe(MAX_EVENT_BYTES);
    expect(oversizedRecord(largest)).toBeNull();
    const redriven = {
      ...largest,
      headers: { ...largest.headers, "dlq.redriven.from": "patient-events.dlq/0/1" },
    };
    expect(oversizedRecord(redriven)).toBeNull();
    // Another header under dlq. is no re-drive's: it counts, however named.
    const padded = { ...largest, headers: { ...largest.headers, "dlq.junk": "x" } };
    expect(oversizedRecord(padded)).toMatchObject({ problem: "too-large" });
    expect(oversizedRecord(sized(MAX_EVENT_BYTES))).toMatchObject({ problem: "too-large" });
  });
  it("is broken by a record on another partition than the one its key hashes to, named without the key", () => {
    // kafka/keyPartitioner.unit.test.ts holds partitionOfKey to Java's own results.
    const key = Buffer.from("2f1e8f0e-3c1a-4d7b-9a55-1d3c0b6e9f20");
    const partitions = 6;
    const its = partitionOfKey(key, partitions);
    expect(misplacedRecord(key, { partition: its, partitions })).toBeNull();
    const other = (its + 1) % partitions;
    expect(misplacedRecord(key, { partition: other, partitions })).toEqual({
      problem: "wrong-partition",
      message: `the record is on partition ${other}, not ${its}, the one of the topic's 6 its key hashes to`,
    });
    // A record without a key is the key check's (wrong-key), not this one's.
    expect(misplacedRecord(null, { partition: other, partitions })).toBeNull();
  });
});

// Golden vectors for the row hash (format v1): fixed fields give these hashes, today and in six years. Every
// hash in every history and archive ever written depends on them: a change here is a new format, never an
// edit of these values (see eventHash.ts).
import { describe, expect, it } from "vitest";
import { extendChain, GENESIS } from "../../audit/checkpoint.ts";
import { EVENT_HASH_FORMAT, eventHash, type HashedEventFields } from "./eventHash.ts";

const created: HashedEventFields = {
  eventId: "0b6c1f5e-8d1a-4c39-9a57-3f4a2c1d9e01",
  eventType: "patient.created",
  aggregateType: "patient",
  aggregateId: "5d2f8a61-0c3e-4b7a-8f19-6e0d4c2b7a10",
  aggregateVersion: 1,
  topic: "patient-events",
  messageKey: "5d2f8a61-0c3e-4b7a-8f19-6e0d4c2b7a10",
  payload:
    '{"eventId":"0b6c1f5e-8d1a-4c39-9a57-3f4a2c1d9e01","eventType":"patient.created","data":{"firstName":"enc:v1:AAAA"}}',
  correlationId: "7f3e2d1c-4b5a-4968-8776-655443322110",
  traceparent: null,
  tracestate: null,
  createdAt: new Date("2020-01-15T10:30:00.123Z"),
};

const updated: HashedEventFields = {
  ...created,
  eventId: "1c7d2a6f-9e2b-4d4a-8b68-4a5b3d2e0f12",
  eventType: "patient.updated",
  aggregateVersion: 2,
  payload: '{"eventId":"1c7d2a6f-9e2b-4d4a-8b68-4a5b3d2e0f12","eventType":"patient.updated"}',
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  createdAt: new Date("2020-01-15T10:31:00.000Z"),
};

/** An audit event: keyed by its own id, in no chain, with no aggregate version. */
const accessed: HashedEventFields = {
  ...created,
  eventId: "2d8e3b70-af3c-4e5b-9c79-5b6c4e3f1023",
  eventType: "audit.data.accessed",
  aggregateType: "audit",
  aggregateId: "2d8e3b70-af3c-4e5b-9c79-5b6c4e3f1023",
  aggregateVersion: null,
  topic: "audit-events",
  messageKey: "2d8e3b70-af3c-4e5b-9c79-5b6c4e3f1023",
  payload: "{}",
  createdAt: new Date("2020-01-15T10:32:00.000Z"),
};

const hex = (hash: Buffer) => hash.toString("hex");

describe(`the row hash, format ${EVENT_HASH_FORMAT}`, () => {
  it("hashes a chain's first event from its fields alone", () => {
    expect(hex(eventHash(null, created))).toBe(
      "dc6243941ae3f1fbc4e7646eb0c9f4e0dbdc148d405387ff5bcbd23a9087f650",
    );
  });

  it("hashes a later event over the previous event's hash and its own fields", () => {
    const previous = eventHash(null, created);
    expect(hex(eventHash(previous, updated))).toBe(
      "9c188c8e5dbe0b35698dcf87385a9e55e336a8e61d278c3054a3920aab59caeb",
    );
    // The link is part of the hash: the same fields without it hash to something else.
    expect(hex(eventHash(null, updated))).toBe(
      "a7d913d548bb2d82ecf085a290e137d763a43287b0425274e37982d149e79ea6",
    );
  });

  it("hashes an event with no aggregate version (an audit event)", () => {
    expect(hex(eventHash(null, accessed))).toBe(
      "07f63ebf585659bee0ca5925d0ae38b6b890b610abc9be7683584a14c84a17a8",
    );
  });

  it("covers a tracestate as one more field, leaving the hash of a row without one as it was", () => {
    const withState = { ...updated, tracestate: "vendor=opaque-value,other=1" };
    expect(hex(eventHash(null, withState))).toBe(
      "a82a4a0254f79ebd38768c889bfa3f996f2b2ccd4db6487f7e822765f86acac8",
    );
    expect(hex(eventHash(null, { ...withState, tracestate: "vendor=changed,other=1" }))).not.toBe(
      hex(eventHash(null, withState)),
    );
  });

  it("runs a checkpoint's hash over the rows' hashes in history order", () => {
    const rows = [
      eventHash(null, created),
      eventHash(eventHash(null, created), updated),
      eventHash(null, accessed),
    ];
    const running = rows.reduce(extendChain, GENESIS.chainHash);
    expect(hex(running)).toBe("fe5735567fbbc277eb16ecf343900c5cbbce10dd483d170467d01efeadb46370");
  });
});

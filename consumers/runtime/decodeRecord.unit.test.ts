// Decoding as a specification: a valid envelope becomes a typed event; everything else is named poison.
import { describe, expect, it } from "vitest";
import { exampleData } from "../../events/examples.ts";
import { decodeRecord } from "./decodeRecord.ts";

const envelope = {
  eventId: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
  eventType: "patient.created",
  timestamp: "2024-01-15T10:30:00Z",
  source: "patient-service",
  version: "1.0",
  data: exampleData["patient.created"],
  metadata: {
    correlationId: "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9",
    userId: null,
    ipAddress: null,
    userAgent: null,
    sessionId: null,
  },
};
const encode = (value: unknown) => Buffer.from(JSON.stringify(value));

describe("decoding a record", () => {
  it("returns the typed envelope of a valid event", () => {
    const decoded = decodeRecord("patient-events", encode(envelope));
    expect(decoded).toEqual({ kind: "event", envelope });
  });

  it("calls a record without a value, or with a value that is not JSON, poison", () => {
    expect(decodeRecord("patient-events", null)).toMatchObject({ kind: "poison", problem: "empty-value" });
    expect(decodeRecord("patient-events", Buffer.from("Ada Lovelace, born 1815"))).toEqual({
      kind: "poison",
      problem: "not-json",
      message: "the record value is not JSON",
    });
  });

  it("names the envelope's bad fields, and the data's, without quoting their values", () => {
    const badEnvelope = decodeRecord("patient-events", encode({ ...envelope, version: "2.0" }));
    expect(badEnvelope).toMatchObject({ kind: "poison", problem: "invalid-envelope" });
    const badData = decodeRecord(
      "patient-events",
      encode({ ...envelope, data: { ...envelope.data, email: "ada-at-example.org" } }),
    );
    expect(badData).toMatchObject({ kind: "poison", problem: "invalid-data" });
    expect(badData.kind === "poison" && badData.message).toContain("data.email");
    expect(badData.kind === "poison" && badData.message).not.toContain("ada-at-example.org");
  });

  it("parks an event type the catalog does not know yet, and an event on another event's topic", () => {
    expect(
      decodeRecord("patient-events", encode({ ...envelope, eventType: "patient.merged" })),
    ).toMatchObject({ kind: "poison", problem: "unknown-event-type" });
    expect(decodeRecord("appointment-events", encode(envelope))).toMatchObject({
      kind: "poison",
      problem: "wrong-topic",
      message: 'event type "patient.created" belongs on patient-events, not appointment-events',
    });
  });
});

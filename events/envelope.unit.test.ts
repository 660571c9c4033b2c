// The envelope as consumers read it: its exact shape, metadata whose unknown values are null, and data
// checked against the event type it claims.
import { describe, expect, it } from "vitest";
import { parseEnvelope } from "./catalog.ts";
import { type Envelope, eventMetadata } from "./envelope.ts";
import { EventValidationError, UnknownEventTypeError } from "./errors.ts";
import { exampleData } from "./examples.ts";

const correlationId = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

function envelope(overrides: Partial<Envelope> = {}): Envelope {
  return {
    eventId: "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
    eventType: "patient.created",
    timestamp: "2024-01-15T10:30:00Z",
    source: "patient-service",
    version: "1.0",
    data: structuredClone(exampleData["patient.created"]),
    metadata: eventMetadata({ correlationId }),
    ...overrides,
  };
}

function problemsOf(value: unknown): { eventType: string | null; paths: string[] } {
  try {
    parseEnvelope(value);
  } catch (error) {
    expect(error).toBeInstanceOf(EventValidationError);
    const validation = error as EventValidationError;
    return { eventType: validation.eventType, paths: validation.problems.map((problem) => problem.path) };
  }
  throw new Error("the envelope was accepted");
}

describe("envelope", () => {
  it("is read with its data typed by its event type", () => {
    const parsed = parseEnvelope(JSON.parse(JSON.stringify(envelope())));
    expect(parsed.eventType).toBe("patient.created");
    if (parsed.eventType !== "patient.created") throw new Error("unreachable");
    expect(parsed.data.dateOfBirth).toBe("1985-12-10");
  });

  it("spells unknown metadata as null, so every envelope has the same keys", () => {
    expect(eventMetadata({ correlationId, userAgent: "   " })).toEqual({
      correlationId,
      userId: null,
      ipAddress: null,
      userAgent: null,
      sessionId: null,
    });
    expect(eventMetadata({ correlationId, userAgent: "x".repeat(5000) }).userAgent).toHaveLength(1024);
    const { userId: _missing, ...withoutUserId } = eventMetadata({ correlationId });
    expect(problemsOf(envelope({ metadata: withoutUserId as Envelope["metadata"] })).paths).toEqual([
      "metadata.userId",
    ]);
  });

  it("accepts IPv4 and IPv6 client addresses, including IPv4-mapped ones, and sealed ones", () => {
    for (const ipAddress of ["203.0.113.7", "2001:db8::1", "::ffff:127.0.0.1", "enc:v1:q83vEjRWeJA-_w"]) {
      expect(() =>
        parseEnvelope(envelope({ metadata: eventMetadata({ correlationId, ipAddress }) })),
      ).not.toThrow();
    }
  });

  it("refuses a timestamp with an offset, another version and unknown top-level fields", () => {
    const value = {
      ...envelope({ timestamp: "2024-01-15T11:30:00+01:00", version: "2.0" as "1.0" }),
      key: "x",
    };
    expect(problemsOf(value)).toEqual({ eventType: null, paths: ["timestamp", "version", "key"] });
  });

  it("names the event type and the data path when the data does not fit the type", () => {
    const data = { ...exampleData["patient.created"], email: "nope" };
    expect(problemsOf(envelope({ data }))).toEqual({ eventType: "patient.created", paths: ["data.email"] });
  });

  it("refuses an event type the catalog does not know with its own error, so a consumer can park it", () => {
    expect(() => parseEnvelope(envelope({ eventType: "patient.teleported" }))).toThrow(UnknownEventTypeError);
  });
});

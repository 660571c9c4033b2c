// The dead-letter record format: original bytes untouched, the reason in headers, and a clean re-drive.
import { describe, expect, it } from "vitest";
import { DEAD_LETTER_HEADROOM_BYTES, recordBytes, TOPIC_MAX_MESSAGE_BYTES } from "../../events/record.ts";
import type { KafkaMessage } from "../../kafka/client.ts";
import { deadLetterMessage, headerText, readDeadLetter, redriveMessage } from "./deadLetters.ts";

const eventId = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const original = {
  key: Buffer.from("patient-1"),
  value: Buffer.from('{"eventId":"..."}'),
  headers: { eventId: Buffer.from(eventId), eventType: Buffer.from("patient.created") },
};
const origin = { topic: "patient-events", partition: 4, offset: "1234" };
const cause = {
  consumer: "patient-directory",
  reason: "attempts-exhausted" as const,
  error: "TypeError",
  errorMessage: "x".repeat(5_000),
  attempts: 5,
};

/** What a consumer reads back from the dead-letter topic. */
function asRead(message: ReturnType<typeof deadLetterMessage>, offset: string): KafkaMessage {
  const read: KafkaMessage = {
    key: message.key as Buffer,
    value: message.value as Buffer,
    headers: Object.fromEntries(
      Object.entries(message.headers ?? {}).map(([name, value]) => [name, Buffer.from(String(value))]),
    ),
    offset,
    timestamp: "0",
    attributes: 0,
  };
  return read;
}

describe("a dead letter", () => {
  it("adds headers that fit in the room its topic has beyond the event topic's limit, however long the texts", () => {
    // A record as large as the topic takes, from a producer that already used dlq.* header names.
    const largest = {
      key: Buffer.from("patient-1"),
      value: Buffer.alloc(TOPIC_MAX_MESSAGE_BYTES - 2_000),
      headers: { eventId: Buffer.from("e-1"), "dlq.consumer": Buffer.from("x".repeat(1_000)) },
    };
    const fourByteCharacters = "\u{1F600}".repeat(50_000);
    const message = deadLetterMessage(
      largest,
      { ...origin, offset: "9223372036854775807" },
      {
        consumer: fourByteCharacters,
        reason: "attempts-exhausted",
        error: fourByteCharacters,
        errorMessage: fourByteCharacters,
        attempts: Number.MAX_SAFE_INTEGER,
      },
    );
    const asSized = (record: typeof largest | typeof message) => ({
      key: record.key as Buffer,
      value: record.value as Buffer,
      headers: Object.fromEntries(
        Object.entries(record.headers ?? {}).map(([name, value]) => [name, String(value)]),
      ),
    });
    const added = recordBytes(asSized(message)) - recordBytes(asSized(largest));
    expect(added).toBeGreaterThan(0);
    expect(added).toBeLessThan(DEAD_LETTER_HEADROOM_BYTES / 4);
  });

  it("keeps the original key, value and headers, and names the consumer, error, attempts and origin", () => {
    const message = deadLetterMessage(original, origin, cause, new Date("2024-01-15T10:30:00Z"));
    expect(message.key).toBe(original.key);
    expect(message.value).toBe(original.value);
    expect(message.partition).toBe(4);
    const letter = readDeadLetter("patient-events.dlq", 4, asRead(message, "7"));
    expect(letter).toEqual({
      dlqTopic: "patient-events.dlq",
      partition: 4,
      offset: "7",
      eventId,
      eventType: "patient.created",
      consumer: "patient-directory",
      reason: "attempts-exhausted",
      error: "TypeError",
      errorMessage: "x".repeat(1_000),
      attempts: 5,
      original: origin,
      deadLetteredAt: "2024-01-15T10:30:00.000Z",
      redrivenFrom: null,
      recordOmitted: null,
    });
  });

  it("goes back to its topic with its own headers only, marked with the dead letter it came from", () => {
    const read = asRead(deadLetterMessage(original, origin, cause), "7");
    const redriven = redriveMessage(readDeadLetter("patient-events.dlq", 4, read), read);
    expect(redriven.value).toBe(read.value);
    expect(Object.keys(redriven.headers ?? {}).sort()).toEqual(["dlq.redriven.from", "eventId", "eventType"]);
    expect(String(redriven.headers?.["dlq.redriven.from"])).toBe("patient-events.dlq/4/7");
  });

  it("parked a second time, it carries the new reason, not the old one", () => {
    const first = asRead(deadLetterMessage(original, origin, cause), "7");
    const again = deadLetterMessage(first, { ...origin, offset: "2000" }, { ...cause, reason: "poison" });
    const letter = readDeadLetter("patient-events.dlq", 4, asRead(again, "8"));
    expect(letter.reason).toBe("poison");
    expect(letter.original.offset).toBe("2000");
  });

  it("reads an eventId or eventType header of another form as absent: a forged record's may hold anything", () => {
    for (const [name, text] of [
      ["eventId", "Ada Lovelace"],
      ["eventId", eventId.toUpperCase()],
      ["eventType", "patient.created\u001b[2J"],
      ["eventType", "ada@example.org"],
    ] as const) {
      const forged = { ...original, headers: { ...original.headers, [name]: Buffer.from(text) } };
      const letter = readDeadLetter(
        "patient-events.dlq",
        4,
        asRead(deadLetterMessage(forged, origin, cause), "7"),
      );
      expect(letter[name]).toBeNull();
    }
  });

  it("reads a header sent without a value as absent", () => {
    expect(headerText(null)).toBeNull();
    expect(headerText(undefined)).toBeNull();
    expect(headerText([Buffer.from("a"), Buffer.from("b")])).toBe("a");
  });
  it("holds a record whole up to what its topic takes uncompressed, and none of a larger one but where it is", () => {
    const sized = (bytes: number) => {
      const value = Buffer.alloc(bytes - recordBytes({ ...original, value: Buffer.alloc(0) }), 120);
      return { ...original, value };
    };
    const largestWhole = sized(TOPIC_MAX_MESSAGE_BYTES - 128);
    expect(deadLetterMessage(largestWhole, origin, cause).value).toBe(largestWhole.value);

    // What only compression got under the topic's limit: megabytes once decompressed.
    const bomb = {
      ...sized(5_529_600),
      headers: { ...original.headers, note: Buffer.from("y".repeat(4_000)) },
    };
    const parked = deadLetterMessage(bomb, origin, { ...cause, reason: "poison", error: "too-large" });
    expect(parked.key).toBeNull();
    expect(parked.value).toBeNull();
    expect(parked.headers?.note).toBeUndefined();
    expect(recordBytes({ key: null, value: null, headers: parked.headers ?? {} })).toBeLessThan(
      DEAD_LETTER_HEADROOM_BYTES,
    );
    const letter = readDeadLetter("patient-events.dlq", 4, asRead(parked, "9"));
    expect(letter).toMatchObject({
      eventId,
      eventType: "patient.created",
      error: "too-large",
      original: origin,
      recordOmitted: recordBytes({ key: bomb.key, value: bomb.value, headers: bomb.headers }),
    });
    expect(
      readDeadLetter("patient-events.dlq", 4, asRead(deadLetterMessage(original, origin, cause), "10")),
    ).toMatchObject({ recordOmitted: null });
  });
});

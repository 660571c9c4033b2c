// The replay's flags: each filter read into the request, and every bad flag refused with a message that
// names it, before anything is read or sent.
import { describe, expect, it } from "vitest";
import { ReplayArgumentError, replayRequest } from "./replayArguments.ts";

const patientId = "5f0c3c8e-1d2b-4c6a-9e7f-0a1b2c3d4e5f";

describe("the replay's command line", () => {
  it("reads every filter, the target topic and the rate; the filters combine", () => {
    expect(
      replayRequest({
        topic: "patient-events",
        "from-position": "10",
        "to-position": "20",
        since: "2026-01-15T00:00:00Z",
        until: "2026-01-16T00:00:00+01:00",
        aggregate: `patient:${patientId.toUpperCase()}`,
        "event-type": "patient.updated",
        "correlation-id": patientId.toUpperCase(),
        "to-topic": "patient-events-replay",
        rate: "250",
      }),
    ).toEqual({
      filter: {
        topic: "patient-events",
        fromPosition: "10",
        toPosition: "20",
        since: new Date("2026-01-15T00:00:00Z"),
        until: new Date("2026-01-15T23:00:00Z"),
        // Ids are canonical (lower case) in the outbox.
        aggregate: { type: "patient", id: patientId },
        eventType: "patient.updated",
        correlationId: patientId,
      },
      toTopic: "patient-events-replay",
      ratePerSecond: 250,
    });
  });

  it("refuses a --since in the future, which would select nothing, and takes an --until after now", () => {
    const now = new Date("2026-12-02T12:00:00Z");
    expect(() => replayRequest({ since: "2026-12-02T12:00:01Z" }, now)).toThrow(
      /--since 2026-12-02T12:00:01Z: is in the future/,
    );
    expect(() => replayRequest({ since: "2099-01-01T00:00:00Z" })).toThrow(ReplayArgumentError);
    expect(
      replayRequest({ since: "2026-12-02T12:00:00Z", until: "2099-01-01T00:00:00Z" }, now).filter,
    ).toEqual({
      since: now,
      until: new Date("2099-01-01T00:00:00Z"),
    });
  });

  it("takes a time to the millisecond however many digits write it, and refuses a finer one it could not record", () => {
    expect(
      replayRequest({ since: "2026-01-15T00:00:00.123000+00:00", until: "2026-01-16T00:00:00.000000000Z" })
        .filter,
    ).toEqual({ since: new Date("2026-01-15T00:00:00.123Z"), until: new Date("2026-01-16T00:00:00Z") });
    expect(() => replayRequest({ until: "2026-01-16T00:00:00.000001Z" })).toThrow(
      "--until 2026-01-16T00:00:00.000001Z: must not be more precise than milliseconds (a replay records its selection to the millisecond)",
    );
  });

  it("takes the slowest rate it can time, one event every 1000 s", () => {
    expect(replayRequest({ topic: "patient-events", rate: "0.001" }).ratePerSecond).toBe(0.001);
    // Any decimal notation of a pace: with a fraction, without a leading zero, with an exponent.
    for (const [rate, perSecond] of [
      ["2.5", 2.5],
      [".5", 0.5],
      ["1e3", 1000],
      ["5.", 5],
    ] as const)
      expect(replayRequest({ topic: "patient-events", rate }).ratePerSecond).toBe(perSecond);
  });

  it("replays to the events' own topics at full speed unless told otherwise", () => {
    expect(replayRequest({ "event-type": "patient.created" })).toEqual({
      filter: { eventType: "patient.created" },
      toTopic: null,
      ratePerSecond: null,
    });
  });

  const refused: Array<[string, Record<string, string>, RegExp]> = [
    ["no filter at all", {}, /choose what to replay/],
    ["an unknown topic", { topic: "patients" }, /--topic patients: unknown topic/],
    ["a dead-letter topic as the source", { topic: "patient-events.dlq" }, /--topic patient-events\.dlq/],
    ["an unknown event type", { "event-type": "patient.renamed" }, /--event-type patient\.renamed: unknown/],
    [
      "a position that is not one",
      { "from-position": "-1" },
      /--from-position -1: must be an outbox position/,
    ],
    ["an empty position range", { "from-position": "20", "to-position": "10" }, /empty range/],
    ["a time without its offset", { since: "2026-01-15T00:00:00" }, /--since .*offset/],
    ["an impossible date", { until: "2026-02-31T00:00:00Z" }, /--until/],
    // Year 0000 does not exist: the audit.history.replayed record could not hold it, nor one its offset makes.
    [
      "a --since in year 0000",
      { since: "0000-01-01T00:00:00Z" },
      /--since 0000-01-01T00:00:00Z: must be in the years 0001 to 9999/,
    ],
    [
      "an --until in year 0000",
      { until: "0000-06-01T00:00:00Z" },
      /--until 0000-06-01T00:00:00Z: must be in the years/,
    ],
    [
      "an offset back into year 0000",
      { since: "0001-01-01T00:30:00+01:00" },
      /--since 0001-01-01T00:30:00\+01:00: must be in the years/,
    ],
    [
      "an offset on into year 10000",
      { until: "9999-12-31T23:30:00-01:00" },
      /--until 9999-12-31T23:30:00-01:00: must be in the years/,
    ],
    [
      "an empty time range",
      { since: "2026-01-16T00:00:00Z", until: "2026-01-15T00:00:00Z" },
      /--since .* is not before --until/,
    ],
    ["an aggregate without its type", { aggregate: patientId }, /--aggregate .*<type>:<id>/],
    ["an unknown aggregate type", { aggregate: `person:${patientId}` }, /unknown aggregate type person/],
    ["a correlation id that is no UUID", { "correlation-id": "42" }, /--correlation-id 42: must be a UUID/],
    ["a target that is no topic name", { topic: "patient-events", "to-topic": "a b" }, /--to-topic a b/],
    [
      "a target of Kafka's own",
      { topic: "patient-events", "to-topic": "__consumer_offsets" },
      /--to-topic __consumer_offsets: a topic of Kafka's own/,
    ],
    [
      "a target of Kafka Connect's own state",
      { topic: "patient-events", "to-topic": "connect-offsets" },
      /--to-topic connect-offsets: a topic of Kafka Connect's own state/,
    ],
    ["a rate of 0", { topic: "patient-events", rate: "0" }, /--rate 0: .*above 0/],
    ["a negative rate", { topic: "patient-events", rate: "-3" }, /--rate -3/],
    ["a rate that is no number", { topic: "patient-events", rate: "fast" }, /--rate fast/],
    // Number() would read these as another pace than the one typed.
    ["a rate in hexadecimal", { topic: "patient-events", rate: "0x10" }, /--rate 0x10: must be a number/],
    ["a rate in binary", { topic: "patient-events", rate: "0b11" }, /--rate 0b11: must be a number/],
    [
      "a rate with blanks around it",
      { topic: "patient-events", rate: " 5" },
      /--rate {2}5: must be a number/,
    ],
    ["an infinite rate", { topic: "patient-events", rate: "Infinity" }, /--rate Infinity: must be a number/],
    [
      "a rate too slow to time",
      { topic: "patient-events", rate: "1e-7" },
      /--rate 1e-7: must be at least 0\.001 events per second/,
    ],
    ["a rate just below the slowest", { topic: "patient-events", rate: "0.0009" }, /--rate 0\.0009/],
  ];
  it.each(refused)("refuses %s, naming the flag", (_, values, message) => {
    expect(() => replayRequest(values)).toThrow(ReplayArgumentError);
    expect(() => replayRequest(values)).toThrow(message);
  });
});

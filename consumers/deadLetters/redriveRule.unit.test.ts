// The rule that keeps a re-drive from putting on an event topic what no transaction committed, or an older event
// of an aggregate over a newer one: not when its record is not the committed event it names, not when the
// consumer that parked it has applied a newer event of its aggregate, not when it is older than its topic's
// redelivery window (the window replay keeps too); on audit-events (keyed by eventId, compacted) neither applies.
import { describe, expect, it } from "vitest";
import type { TopicName } from "../../events/index.ts";
import type { DeadLetter } from "../runtime/deadLetters.ts";
import { type RedriveCandidate, supersededBecause } from "./redriveRule.ts";

const NOW = new Date("2026-12-02T12:00:00Z");
const DAY_MS = 86_400_000;

const letter: DeadLetter = {
  dlqTopic: "patient-events.dlq",
  partition: 2,
  offset: "41",
  eventId: "0f6f3c3e-8d7b-4c1a-9e2f-3a4b5c6d7e8f",
  eventType: "patient.consent.changed",
  consumer: "patient-directory",
  reason: "attempts-exhausted",
  error: "RangeError",
  errorMessage: "template missing",
  attempts: 5,
  original: { topic: "patient-events", partition: 2, offset: "977" },
  deadLetteredAt: "2026-12-02T11:00:00.000Z",
  redrivenFrom: null,
  recordOmitted: null,
};
const withdrawal = {
  eventId: "5b1d0a9c-2e3f-4a5b-8c6d-7e8f9a0b1c2d",
  eventType: "patient.consent.changed",
  position: "1203",
  aggregateType: "patient",
  aggregateId: "c1ab88bd-0859-4f0a-8cb0-a05cfa7c1985",
};

function candidate(overrides: Partial<RedriveCandidate>): RedriveCandidate {
  return {
    letter,
    topic: "patient-events",
    createdAt: new Date(NOW.getTime() - DAY_MS),
    newerApplied: null,
    notCommitted: null,
    otherKey: null,
    ...overrides,
  };
}

describe("the re-drive rule", () => {
  it("lets a dead letter go back when its consumer has applied nothing newer of its aggregate", () => {
    expect(supersededBecause(candidate({}), NOW)).toBeNull();
    // An event whose age nothing tells (a record that is no envelope) is judged by its aggregate alone.
    expect(supersededBecause(candidate({ createdAt: null }), NOW)).toBeNull();
  });

  it("keeps it parked when its consumer has applied a newer event of its aggregate, naming both and why", () => {
    expect(supersededBecause(candidate({ newerApplied: withdrawal }), NOW)).toBe(
      `dead letter patient-events.dlq/2/41 (event ${letter.eventId}, patient.consent.changed): consumer ` +
        `patient-directory has already applied a newer event of patient ${withdrawal.aggregateId}, event ` +
        `${withdrawal.eventId} (patient.consent.changed, outbox position 1203); re-driven, this one would be ` +
        "applied after it, its older state over the newer",
    );
  });

  it("keeps it parked when its event is older than the topic's redelivery window, as replay does", () => {
    // patient-events: 7 days on the topic, 30 in its dead-letter topic, and a day: 38 days in every inbox.
    const rememberedFrom = new Date(NOW.getTime() - 38 * DAY_MS);
    const reason = supersededBecause(candidate({ createdAt: new Date(rememberedFrom.getTime() - 1) }), NOW);
    expect(reason).toContain(`before ${rememberedFrom.toISOString()}`);
    expect(reason).toContain("consumers remember an event for 38 days after handling it");
    expect(supersededBecause(candidate({ createdAt: rememberedFrom }), NOW)).toBeNull();
  });

  it("keeps it parked when its record is not the committed event it names, on every topic, saying what was found", () => {
    for (const topic of ["patient-events", "audit-events"] as TopicName[]) {
      expect(
        supersededBecause(
          candidate({ topic, notCommitted: { kind: "not-committed", found: "nothing" } }),
          NOW,
        ),
      ).toBe(
        `dead letter patient-events.dlq/2/41 (event ${letter.eventId}, patient.consent.changed): its record is not a ` +
          "committed event: neither the outbox nor the archived events hold an event with this id; re-driven, it " +
          `would put on ${topic} a record no transaction committed`,
      );
    }
    expect(
      supersededBecause(
        candidate({ notCommitted: { kind: "not-committed", found: "outbox-other-value" } }),
        NOW,
      ),
    ).toContain("its record is not the committed event: the outbox holds this id with another value");
  });

  it("keeps it parked when its record's key is not the one its event is published under", () => {
    expect(supersededBecause(candidate({ otherKey: { expected: withdrawal.aggregateId } }), NOW)).toBe(
      `dead letter patient-events.dlq/2/41 (event ${letter.eventId}, patient.consent.changed): its record's key is ` +
        `not ${withdrawal.aggregateId}, the one its event is published under; re-driven, it would put the event on ` +
        "patient-events under another key than the relay's",
    );
  });

  it("keeps it parked when its event type is not one this catalog knows, whose key it cannot check", () => {
    // A newer platform's event, committed and parked as unknown-event-type: the version that knows its type
    // re-drives it, knowing the key its relays publish it under.
    expect(supersededBecause(candidate({ otherKey: { expected: null } }), NOW)).toBe(
      `dead letter patient-events.dlq/2/41 (event ${letter.eventId}, patient.consent.changed): its event type is ` +
        "not one this version's catalog knows, so the key its event is published under cannot be checked; " +
        "re-drive it with the version whose consumers read that type",
    );
  });

  it("keeps no order on audit-events, keyed by eventId and compacted: any of its dead letters may go back", () => {
    const audit = {
      topic: "audit-events" as TopicName,
      letter: { ...letter, dlqTopic: "audit-events.dlq", eventType: "audit.data.accessed" },
    };
    expect(supersededBecause(candidate({ ...audit, newerApplied: withdrawal }), NOW)).toBeNull();
    expect(supersededBecause(candidate({ ...audit, createdAt: new Date(0) }), NOW)).toBeNull();
  });
});

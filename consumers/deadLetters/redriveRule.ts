// When a dead letter may go back to its topic. First, only a committed event goes back: its record's value must be
// the outbox's (or its archive's) event with its id, byte for byte, under the key the relays publish it with, or
// the re-drive would put on an event topic what no transaction committed (a forged or altered record, parked as
// `not-committed` or for any other reason), and Kafka holds only committed events. Then, a re-driven record lands after every record already there, and
// the consumer that parked it never applied it: that consumer would apply it after whatever newer events of its
// aggregate it has applied since. So, as a replay to the events' own topic (relay/replay/replayRule.ts), a
// re-drive never puts an older event over newer state:
// - not when the consumer that parked it has applied a newer event of its aggregate (per-key order is what a
//   topic keyed by aggregate promises; audit-events, keyed by eventId, promises no order between events);
// - not when its event is older than its topic's redelivery window (rememberedSince, the rule replay follows):
//   the consumers that did handle it may have forgotten it, and would apply the copy again, as new.
// A consumer that reaches a re-driven record asks the first again (consumers/runtime/eventConsumer.ts), for the
// newer events it still had to read when the re-drive was decided: they come before the copy.
import { rememberedSince, type TopicName, topicDefinition } from "../../events/index.ts";
import type { DeadLetter } from "../runtime/deadLetters.ts";
import { NOT_COMMITTED_BECAUSE, type NotCommitted } from "../runtime/inbox.ts";
import type { NewerEvent } from "../runtime/newerEventsApplied.ts";

export interface RedriveCandidate {
  letter: DeadLetter;
  /** The topic it would go back to. */
  topic: TopicName;
  /** When its event was created (its outbox row's time, else its envelope's); null when unknown. */
  createdAt: Date | null;
  /** The newest event of its aggregate that the consumer which parked it has applied since; null if none. */
  newerApplied: NewerEvent | null;
  /** Why its record is not the committed event it names; null when it is. */
  notCommitted: NotCommitted | null;
  /**
   * Its record's key, when it is not the one its event is published under (`expected`; null when its event type is
   * not one this catalog knows, so that no key can be checked); null when it is.
   */
  otherKey: { expected: string | null } | null;
}

/** A dead letter left parked, and why. */
export interface Superseded {
  letter: DeadLetter;
  reason: string;
}

/** Whether re-driving to `topic` can break the order of an aggregate's events (it is keyed by aggregate). */
export function orderMatters(topic: TopicName): boolean {
  return topicDefinition(topic).keyedBy === "aggregate";
}

/** Why this dead letter must not go back to its topic, or null when it may. */
export function supersededBecause(candidate: RedriveCandidate, now: Date): string | null {
  const { letter, topic, createdAt, newerApplied, notCommitted, otherKey } = candidate;
  const which = `dead letter ${letter.dlqTopic}/${letter.partition}/${letter.offset} (event ${letter.eventId ?? "?"}, ${letter.eventType ?? "?"})`;
  if (notCommitted !== null) {
    return (
      `${which}: its record ${NOT_COMMITTED_BECAUSE[notCommitted.found]}; re-driven, it would put on ${topic} a ` +
      "record no transaction committed"
    );
  }
  if (otherKey?.expected === null) {
    return (
      `${which}: its event type is not one this version's catalog knows, so the key its event is published under ` +
      "cannot be checked; re-drive it with the version whose consumers read that type"
    );
  }
  if (otherKey !== null) {
    return (
      `${which}: its record's key is not ${otherKey.expected}, the one its event is published under; re-driven, ` +
      `it would put the event on ${topic} under another key than the relay's`
    );
  }
  if (newerApplied !== null && orderMatters(topic)) {
    return (
      `${which}: consumer ${letter.consumer} has already applied a newer event of ${newerApplied.aggregateType} ` +
      `${newerApplied.aggregateId}, event ${newerApplied.eventId} (${newerApplied.eventType}, outbox position ` +
      `${newerApplied.position}); re-driven, this one would be applied after it, its older state over the newer`
    );
  }
  const remembered = rememberedSince(topic, now);
  if (remembered !== null && createdAt !== null && createdAt < remembered.since) {
    return (
      `${which}: its event was created at ${createdAt.toISOString()}, before ${remembered.since.toISOString()}; ` +
      `consumers remember an event for ${remembered.days} days after handling it (their inbox), so those that ` +
      "handled it would apply the re-driven copy again, as new, over what came after it"
    );
  }
  return null;
}

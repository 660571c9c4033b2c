// Turns a Kafka record's value into a checked event, or names why it is poison: a record no attempt could
// ever process, which goes to the dead-letter topic at once instead of being retried.
import {
  EventValidationError,
  eventDefinition,
  parseEnvelope,
  type TypedEnvelope,
  UnknownEventTypeError,
} from "../../events/index.ts";

export type PoisonProblem =
  | "empty-value"
  | "not-json"
  | "invalid-envelope"
  | "unknown-event-type"
  | "wrong-topic"
  | "invalid-data";

export type DecodedRecord =
  | { kind: "event"; envelope: TypedEnvelope }
  /** `message` names fields and rules, never values: it goes into headers and logs. */
  | { kind: "poison"; problem: PoisonProblem; message: string };

export function decodeRecord(topic: string, value: Buffer | null): DecodedRecord {
  if (value === null || value.length === 0) {
    return { kind: "poison", problem: "empty-value", message: "the record has no value" };
  }
  let json: unknown;
  try {
    json = JSON.parse(value.toString("utf8"));
  } catch {
    // JSON.parse's own message quotes the text around the mistake, which may be patient data.
    return { kind: "poison", problem: "not-json", message: "the record value is not JSON" };
  }
  let envelope: TypedEnvelope;
  try {
    envelope = parseEnvelope(json);
  } catch (error) {
    if (error instanceof UnknownEventTypeError) {
      // A newer producer's event type: parked, so that it can be re-driven once this consumer knows it.
      return { kind: "poison", problem: "unknown-event-type", message: error.message };
    }
    if (error instanceof EventValidationError) {
      const problem = error.eventType === null ? "invalid-envelope" : "invalid-data";
      return { kind: "poison", problem, message: error.message };
    }
    throw error;
  }
  const expectedTopic = eventDefinition(envelope.eventType).topic;
  if (expectedTopic !== topic) {
    return {
      kind: "poison",
      problem: "wrong-topic",
      message: `event type "${envelope.eventType}" belongs on ${expectedTopic}, not ${topic}`,
    };
  }
  return { kind: "event", envelope };
}

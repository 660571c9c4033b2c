// What a record around a valid event must say of it (docs/architecture.md, "The record contract"): its key is
// the event's aggregate id (the event id on a topic keyed by event). Both relays, a replay and a re-drive
// always write it so; a record that does not is forged or broken. Its key decided its partition: an event under
// another key was ordered among another aggregate's events, and applied it could overtake its own aggregate's
// older events (a consent withdrawal applied before the grant it withdraws).
import { eventDefinition, recordKey, type TypedEnvelope } from "../../events/index.ts";
import type { KafkaMessage } from "../../kafka/client.ts";

export type ContractProblem = "wrong-key";

/**
 * Why the record's key does not fit its event, or null when it does. The message names the key's field, never
 * a value: a forged key can hold anything, patient data included.
 */
export function recordContractBreach(
  record: Pick<KafkaMessage, "key" | "headers">,
  envelope: TypedEnvelope,
): { problem: ContractProblem; message: string } | null {
  if (record.key?.toString("utf8") !== recordKey(envelope.eventType, envelope.eventId, envelope.data)) {
    return { problem: "wrong-key", message: `the record's key is not ${keyName(envelope)}` };
  }
  return null;
}

/** What the key of the envelope's event is: its id, or its aggregate's, as the catalog keys its topic. */
function keyName({ eventType }: TypedEnvelope): string {
  const definition = eventDefinition(eventType);
  return definition.keyedBy === "eventId"
    ? `the eventId of its ${eventType} event`
    : `the ${definition.aggregateType} id of its ${eventType} event`;
}

// Turns a Kafka record's value into a checked event with its personal fields opened, or names why it is
// poison: a record no attempt could ever process, which goes to the dead-letter topic at once instead of
// being retried. An event about an erased patient is neither: its personal data is gone for good, so it is
// skipped, unless it carries no personal field of its own and the consumer reads such events (an audit
// record's who, what and when outlive the patient's data: only its request metadata went with the key).

import { PatientErased, PatientKeyMissing } from "../../db/patientKeys.ts";
import { uuid } from "../../events/fields.ts";
import {
  EventValidationError,
  envelopeSchema,
  eventDefinition,
  parseEnvelopeData,
  readEnvelope,
  type TypedEnvelope,
  UnknownEventTypeError,
} from "../../events/index.ts";
import type { KafkaMessage } from "../../kafka/client.ts";
import { openEnvelope, type PatientKeySource } from "../../phi/decryptEvent.ts";
import { CiphertextRejected } from "../../phi/fieldCipher.ts";
import {
  carriesPersonalFields,
  keyOwner,
  PersonalDataInPlainText,
  withoutPersonalMetadata,
} from "../../phi/personalFields.ts";
import type { ErasedPatients } from "./consumerDefinition.ts";
import {
  type ContractProblem,
  misplacedRecord,
  oversizedRecord,
  type RecordPlacement,
  recordContractBreach,
} from "./recordContract.ts";

export type PoisonProblem =
  | "empty-value"
  | "not-json"
  | "invalid-envelope"
  | "unknown-event-type"
  | "wrong-topic"
  | "undecryptable"
  | "not-sealed"
  | "invalid-data"
  | ContractProblem;

export type DecodedRecord =
  | { kind: "event"; envelope: TypedEnvelope }
  /** The event names a patient who was erased and carries their (now unreadable) personal fields. */
  | { kind: "erased"; eventId: string; eventType: string }
  /** `message` names fields and rules, never values: it goes into headers and logs. */
  | { kind: "poison"; problem: PoisonProblem; message: string };

/**
 * Decodes a record's value (decodeRecord), and parks a valid event whose record breaks the record contract around
 * it (recordContract.ts): an event under a key that is not its aggregate's was ordered among another aggregate's,
 * and headers missing or saying another event than the value mislead whoever lists or re-drives it. A record
 * larger than any event may be is parked unread.
 */
export async function decodeMessage(
  topic: string,
  message: Pick<KafkaMessage, "key" | "value" | "headers">,
  keys: PatientKeySource,
  erasedPatients: ErasedPatients = "skip",
  /** Where the record was read, to check it is on its key's partition; unchecked when not given. */
  placement?: RecordPlacement,
): Promise<DecodedRecord> {
  const oversized = oversizedRecord(message);
  if (oversized !== null) return { kind: "poison", ...oversized };
  const decoded = await decodeRecord(topic, message.value, keys, erasedPatients);
  if (decoded.kind !== "event") return decoded;
  const breach =
    recordContractBreach(message, decoded.envelope) ??
    (placement === undefined ? null : misplacedRecord(message.key, placement));
  return breach === null ? decoded : { kind: "poison", ...breach };
}

/** What a poison record's envelope says it is, to check it against the outbox (eventConsumer.ts). */
export interface EnvelopeIdentity {
  eventId: string;
  eventType: string;
  timestamp: string;
}

/**
 * The event id, type and time of the envelope in a record's value, whatever its type (one this consumer does not
 * know included) and whatever is wrong with its data, sealing, key or headers; null when it is no envelope.
 */
export function envelopeIdentity(value: Buffer | null): EnvelopeIdentity | null {
  if (value === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(value.toString("utf8"));
  } catch {
    return null;
  }
  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success) return null;
  const { eventId, eventType, timestamp } = envelope.data;
  return { eventId, eventType, timestamp };
}

/**
 * Throws only what a later attempt may cure (the database with the keys is down, a master key is missing
 * from this process's configuration or is not the one that wrapped the patient's key: MasterKeyMissing,
 * MasterKeyRejected): the caller retries the record then. A field that does not open under a key that did
 * unwrap is the record's own fault: poison.
 */
export async function decodeRecord(
  topic: string,
  value: Buffer | null,
  keys: PatientKeySource,
  erasedPatients: ErasedPatients = "skip",
): Promise<DecodedRecord> {
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
  let read: ReturnType<typeof readEnvelope>;
  try {
    read = readEnvelope(json);
  } catch (error) {
    if (error instanceof UnknownEventTypeError) {
      // A newer producer's event type: parked, so that it can be re-driven once this consumer knows it.
      return { kind: "poison", problem: "unknown-event-type", message: error.message };
    }
    if (error instanceof EventValidationError) {
      return {
        kind: "poison",
        problem: "invalid-envelope",
        message: error.messageNamingNothingFromTheValue(),
      };
    }
    throw error;
  }
  const expectedTopic = eventDefinition(read.eventType).topic;
  if (expectedTopic !== topic) {
    return {
      kind: "poison",
      problem: "wrong-topic",
      message: `event type "${read.eventType}" belongs on ${expectedTopic}, not ${topic}`,
    };
  }
  // The name of the patient's data key: checked before it is looked up, or the lookup would fail for ever.
  const owner = keyOwner(read.data);
  if (owner !== null && !uuid.safeParse(owner).success) {
    return {
      kind: "poison",
      problem: "invalid-data",
      message: `data.patientId of ${read.eventType} is not a UUID in lower case`,
    };
  }
  let opened: typeof read;
  try {
    opened = await openEnvelope(read, keys);
  } catch (error) {
    if (error instanceof PatientErased) {
      if (erasedPatients === "skip" || carriesPersonalFields(read.eventType, read.data)) {
        return { kind: "erased", eventId: read.eventId, eventType: read.eventType };
      }
      return parsed({ ...read, metadata: withoutPersonalMetadata(read.metadata) });
    }
    if (error instanceof PatientKeyMissing || error instanceof CiphertextRejected) {
      return { kind: "poison", problem: "undecryptable", message: error.message };
    }
    if (error instanceof PersonalDataInPlainText) {
      return { kind: "poison", problem: "not-sealed", message: error.message };
    }
    throw error;
  }
  return parsed(opened);
}

function parsed(opened: ReturnType<typeof readEnvelope>): DecodedRecord {
  try {
    return { kind: "event", envelope: parseEnvelopeData(opened) };
  } catch (error) {
    if (error instanceof EventValidationError)
      return { kind: "poison", problem: "invalid-data", message: error.messageNamingNothingFromTheValue() };
    throw error;
  }
}

// The one way to read an event's personal fields: consumers, tools and tests call decryptEvent with an
// envelope as it travels (outbox row, Kafka record) and get it back with its data opened and checked.
import {
  type Envelope,
  type EventType,
  parseEnvelopeData,
  readEnvelope,
  type TypedEnvelope,
} from "../events/index.ts";
import {
  assertPersonalDataSealed,
  isAnyFieldSealed,
  isMetadataSealed,
  keyOwner,
  openPersonalFields,
  openPersonalMetadata,
} from "./personalFields.ts";

/** Where decryptEvent gets a patient's data key: db/patientKeys.ts's PatientKeyring in every process. */
export interface PatientKeySource {
  dataKey(patientId: string): Promise<Buffer>;
}

/**
 * Opens the sealed personal fields (and request metadata) of an envelope (a JSON-parsed record value or outbox
 * payload) and checks it against the catalog. Throws EventValidationError or UnknownEventTypeError for a bad envelope,
 * PatientErased when the patient's key was destroyed, PatientKeyMissing or CiphertextRejected when a field
 * cannot be opened, PersonalDataInPlainText when personal data the write path seals is not sealed, and what
 * the key source throws when it cannot give the key (MasterKeyMissing, MasterKeyRejected: the process's
 * master keys cannot unwrap it). An event without personal data needs no key.
 */
export async function decryptEvent(value: unknown, keys: PatientKeySource): Promise<TypedEnvelope> {
  return parseEnvelopeData(await openEnvelope(readEnvelope(value), keys));
}

/** decryptEvent's first step, for callers that tell a bad envelope apart from bad data (consumers/runtime). */
export async function openEnvelope<E extends Envelope & { eventType: EventType }>(
  envelope: E,
  keys: PatientKeySource,
): Promise<E> {
  assertPersonalDataSealed(envelope.eventType, envelope.data, envelope.metadata);
  const patientId = keyOwner(envelope.data);
  const sealed = isAnyFieldSealed(envelope.eventType, envelope.data) || isMetadataSealed(envelope.metadata);
  if (patientId === null || !sealed) return envelope;
  const key = await keys.dataKey(patientId);
  return {
    ...envelope,
    data: openPersonalFields(envelope.eventType, envelope.eventId, envelope.data, key),
    metadata: openPersonalMetadata(envelope.eventId, envelope.metadata, key),
  };
}

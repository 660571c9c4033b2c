// The event catalog's public face: what the write path, the relays, the consumers and the services import.
// The per-topic modules (patient.ts, ...) stay importable on their own for services that reuse field schemas.
export {
  type ApplyTopicsOptions,
  type ApplyTopicsSummary,
  applyTopics,
  type TopicLog,
  type TopicReport,
  type TopicSpec,
} from "./apply-topics.ts";
export {
  type AggregateType,
  type DeadLetterTopicName,
  deadLetterTopicName,
  type EventData,
  type EventDefinition,
  type EventType,
  eventDefinition,
  eventTypes,
  isEventType,
  isTopicName,
  type KeyedBy,
  type NewEvent,
  parseEnvelope,
  parseEnvelopeData,
  parseEventData,
  readEnvelope,
  recordKey,
  redeliveryWindowDays,
  rememberedSince,
  type TopicDefinition,
  type TopicName,
  type TypedEnvelope,
  topicDefinition,
  topics,
} from "./catalog.ts";
export {
  ENVELOPE_VERSION,
  type Envelope,
  type EventMetadata,
  type EventMetadataInput,
  envelopeSchema,
  eventMetadata,
  eventMetadataSchema,
} from "./envelope.ts";
export { EventValidationError, type FieldProblem, UnknownEventTypeError } from "./errors.ts";

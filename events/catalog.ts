// The catalog every part of the pipeline reads: each topic with its partitions and Kafka configs, and each
// event type with its data schema, its topic and its record key.
//
// Conventions of every data schema: objects are strict (an unknown field is refused, never dropped), a value
// that may be unknown is `null` rather than a missing key (one JSON shape per event type), instants are UTC
// ISO-8601 strings with `Z`, and dates are `YYYY-MM-DD`.
import type { z } from "zod";
import {
  insightCreatedSchema,
  modelPerformanceUpdatedSchema,
  modelTrainedSchema,
  predictionGeneratedSchema,
} from "./ai.ts";
import {
  appointmentBookedSchema,
  appointmentCancelledSchema,
  appointmentCompletedSchema,
  appointmentReminderSchema,
} from "./appointment.ts";
import {
  complianceAlertSchema,
  complianceViolationSchema,
  dataAccessedSchema,
  dataModifiedSchema,
  historyReplayedSchema,
  loginAttemptSchema,
  operatorDecryptedSchema,
} from "./audit.ts";
import {
  consentGivenSchema,
  documentDeletedSchema,
  documentProcessedSchema,
  documentUploadedSchema,
} from "./document.ts";
import { type Envelope, envelopeSchema } from "./envelope.ts";
import { EventValidationError, missingFieldIsRequired, UnknownEventTypeError } from "./errors.ts";
import { emailRequestedSchema, pushRequestedSchema, smsRequestedSchema } from "./notification.ts";
import {
  patientConsentChangedSchema,
  patientCreatedSchema,
  patientDeletedSchema,
  patientFieldNames,
  patientUpdatedSchema,
} from "./patient.ts";
import { DEAD_LETTER_HEADROOM_BYTES, TOPIC_MAX_MESSAGE_BYTES } from "./record.ts";

// ---------------------------------------------------------------------------------------------------------
// Topics

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * How a topic's record key is chosen. `aggregate`: the aggregate id, so one patient's (appointment's, ...)
 * events share a partition and keep their commit order. `eventId`: every record has its own key, which a
 * compacted topic needs so that compaction never takes one record for an older version of another.
 */
export type KeyedBy = "aggregate" | "eventId";

export interface TopicDefinition {
  readonly name: TopicName | DeadLetterTopicName;
  readonly partitions: number;
  readonly retentionDays: number;
  readonly cleanupPolicy: "delete" | "compact";
  readonly keyedBy: KeyedBy;
  /** The topic-level Kafka configs that applyTopics keeps the broker in line with, values as Kafka prints them. */
  readonly configs: Readonly<Record<string, string>>;
}

function deletingTopic(
  name: TopicDefinition["name"],
  partitions: number,
  retentionDays: number,
): TopicDefinition {
  return {
    name,
    partitions,
    retentionDays,
    cleanupPolicy: "delete",
    keyedBy: "aggregate",
    configs: {
      "cleanup.policy": "delete",
      "retention.ms": String(retentionDays * DAY_MS),
      "max.message.bytes": String(TOPIC_MAX_MESSAGE_BYTES),
    },
  };
}

/**
 * The audit trail. Compacted, as the platform guide asks, and keyed by eventId, so compaction keeps every
 * record (a redelivered duplicate carries the same eventId and collapses into its original, which is right).
 * With `compact` alone Kafka never deletes by age: `retention.ms` records the guide's 365 days and takes
 * effect only if the policy becomes `compact,delete`; the outbox stays the permanent history either way.
 */
function auditTopic(name: TopicName, partitions: number, retentionDays: number): TopicDefinition {
  const retentionMs = String(retentionDays * DAY_MS);
  return {
    name,
    partitions,
    retentionDays,
    cleanupPolicy: "compact",
    keyedBy: "eventId",
    configs: {
      "cleanup.policy": "compact",
      "retention.ms": retentionMs,
      // The cleaner may not touch a record younger than the retention period, so not even a stray tombstone
      // or a reused key can remove an audit record within it.
      "min.compaction.lag.ms": retentionMs,
      // A tombstone is itself evidence (someone tried to erase an audit record): keep it as long.
      "delete.retention.ms": retentionMs,
      // Never elect an out-of-sync replica as leader: that would silently drop acknowledged audit records.
      "unclean.leader.election.enable": "false",
      "max.message.bytes": String(TOPIC_MAX_MESSAGE_BYTES),
    },
  };
}

const topicNames = [
  "patient-events",
  "appointment-events",
  "document-events",
  "audit-events",
  "notification-events",
  "ai-events",
] as const;

export type TopicName = (typeof topicNames)[number];

/** The platform guide's numbers, unchanged: they are the user's. */
const topicCatalog: { readonly [Name in TopicName]: TopicDefinition } = {
  "patient-events": deletingTopic("patient-events", 6, 7),
  "appointment-events": deletingTopic("appointment-events", 8, 30),
  "document-events": deletingTopic("document-events", 4, 90),
  "audit-events": auditTopic("audit-events", 12, 365),
  "notification-events": deletingTopic("notification-events", 4, 7),
  "ai-events": deletingTopic("ai-events", 6, 180),
};

export function topicDefinition(name: TopicName): TopicDefinition {
  return topicCatalog[name];
}

// ---------------------------------------------------------------------------------------------------------
// Dead-letter topics (consumers/)

/**
 * Where a consumer parks a record it cannot process (consumers/runtime/deadLetterPolicy.ts), until someone
 * re-drives it to its topic (`npm run dlq`). Same partition count and key as the topic, so a dead letter
 * sits on the partition number its record came from; longer retention than most topics, so a person has a
 * month to notice and fix it; always `delete`, so that parked records of a compacted topic are never merged.
 */
export type DeadLetterTopicName = `${TopicName}.dlq`;

const DEAD_LETTER_RETENTION_DAYS = 30;

export function deadLetterTopicName(topic: TopicName): DeadLetterTopicName {
  return `${topic}.dlq`;
}

const deadLetterTopics = topicNames.map((name) => {
  const topic = deletingTopic(
    deadLetterTopicName(name),
    topicCatalog[name].partitions,
    DEAD_LETTER_RETENTION_DAYS,
  );
  return {
    ...topic,
    keyedBy: topicCatalog[name].keyedBy,
    configs: {
      ...topic.configs,
      "max.message.bytes": String(TOPIC_MAX_MESSAGE_BYTES + DEAD_LETTER_HEADROOM_BYTES),
    },
  };
});

/**
 * How many days after it was processed an event can still arrive again: while its topic keeps the record,
 * plus while a dead letter of it (parked by another consumer) can be re-driven into the topic, plus a day. A
 * consumer's inbox remembers an event that long (consumers/runtime/inbox.ts), and a replay or a re-drive to the
 * topic may not send anything older (rememberedSince). `null` for a compacted topic, which keeps every record
 * for good: its entries are never forgotten.
 */
export function redeliveryWindowDays(topic: TopicName): number | null {
  const definition = topicCatalog[topic];
  if (definition.cleanupPolicy !== "delete") return null;
  return definition.retentionDays + DEAD_LETTER_RETENTION_DAYS + 1;
}

/**
 * The oldest event a copy of which may be sent to its topic again (a replay, relay/replay/replayRule.ts; a
 * re-drive, consumers/deadLetters/redriveRule.ts): every consumer's inbox remembers the events created since,
 * and drops a copy of one it has handled. A copy of an older event may reach an inbox that has forgotten it,
 * which would apply it again, as new, after what came after it (an old consent grant over a newer
 * withdrawal). With the window's days alongside, for the refusal to name; `null` for a compacted topic.
 */
export function rememberedSince(topic: TopicName, now: Date): { since: Date; days: number } | null {
  const days = redeliveryWindowDays(topic);
  return days === null ? null : { since: new Date(now.getTime() - days * DAY_MS), days };
}

/** Every topic applyTopics keeps in line: the six event topics, then their dead-letter topics. */
export const topics: readonly TopicDefinition[] = [
  ...topicNames.map((name) => topicCatalog[name]),
  ...deadLetterTopics,
];

export function isTopicName(value: string): value is TopicName {
  return (topicNames as readonly string[]).includes(value);
}

// ---------------------------------------------------------------------------------------------------------
// Event types

export type AggregateType =
  | "patient"
  | "appointment"
  | "document"
  | "actor"
  | "notification"
  | "model"
  | "insight";

interface CatalogEntry<Schema extends z.ZodType> {
  readonly topic: TopicName;
  readonly aggregateType: AggregateType;
  readonly schema: Schema;
  readonly aggregateId: (data: z.output<Schema>) => string;
  /**
   * The data's personal fields (PHI), as dotted paths: sealed with the key of the patient the data names
   * (`patientId`) on the way into the outbox, so the outbox and Kafka hold only their ciphertext. An event
   * carrying any of them without naming a patient is refused (db/outbox/appendEvents.ts), unless
   * `personalOnlyAboutPatient` says otherwise.
   */
  readonly personalFields?: readonly string[];
  /**
   * The personal fields are a patient's data only when the event names that patient; without one they name
   * no one the platform holds data about, and are written as given. Only for facts the platform must record
   * whoever they concern (a login attempt with a username that is no patient's).
   */
  readonly personalOnlyAboutPatient?: true;
  /**
   * Personal fields sealed only since a later version of the catalog, each with the day its rule came: events
   * written before hold them in plain text, and the outbox keeps them so (it is append-only), so readers take
   * either form there. The write path seals them in every event it writes; a forged plain value is no committed
   * event, which the consumers refuse (consumers/runtime/inbox.ts).
   */
  readonly sealedSince?: Readonly<Record<string, string>>;
}

/** Ties `aggregateId`'s parameter to the schema's output type, so each key function is type-checked. */
function event<Schema extends z.ZodType>(entry: CatalogEntry<Schema>): CatalogEntry<Schema> {
  return entry;
}

/**
 * Aggregates that are not obvious:
 * - consent.given belongs to the document it grants access to: on the document's partition it can never
 *   overtake the upload it refers to, nor trail the document's deletion.
 * - ai.prediction.generated belongs to the patient: a patient's predictions then arrive in the order they
 *   were made, so "the latest readmission risk of this patient" is the last one a consumer reads.
 *   (Keyed by predictionId, each would land on any partition and an older score could overwrite a newer.)
 * - ai.insight.created belongs to the insight: insights are standalone findings that never supersede each
 *   other (older ones of the history may concern no patient at all).
 * - audit events belong to the actor (for login attempts, the account, else the patient whose e-mail was typed,
 *   else the username typed). Their record
 *   key is the eventId regardless (audit-events is keyed by eventId); the aggregate serves history queries.
 */
/** Every field of a patient record but the login's id: who they are, how to reach them, their health. */
const patientPersonalFields = patientFieldNames.filter((field) => field !== "userId");

const eventCatalog = {
  "patient.created": event({
    topic: "patient-events",
    aggregateType: "patient",
    schema: patientCreatedSchema,
    aggregateId: (data) => data.patientId,
    personalFields: patientPersonalFields,
  }),
  "patient.updated": event({
    topic: "patient-events",
    aggregateType: "patient",
    schema: patientUpdatedSchema,
    aggregateId: (data) => data.patientId,
    personalFields: patientPersonalFields.map((field) => `changes.${field}`),
  }),
  "patient.deleted": event({
    topic: "patient-events",
    aggregateType: "patient",
    schema: patientDeletedSchema,
    aggregateId: (data) => data.patientId,
  }),
  "patient.consent.changed": event({
    topic: "patient-events",
    aggregateType: "patient",
    schema: patientConsentChangedSchema,
    aggregateId: (data) => data.patientId,
  }),

  "appointment.booked": event({
    topic: "appointment-events",
    aggregateType: "appointment",
    schema: appointmentBookedSchema,
    aggregateId: (data) => data.appointmentId,
    // Where the visit takes place: a home visit's address is the patient's, and a video link is free to carry
    // their name (`/room/ada-lovelace`); both as personal as the notes.
    personalFields: ["location.url", "location.address", "notes"],
    sealedSince: { "location.url": "2026-12-07", "location.address": "2026-12-07" },
  }),
  "appointment.cancelled": event({
    topic: "appointment-events",
    aggregateType: "appointment",
    schema: appointmentCancelledSchema,
    aggregateId: (data) => data.appointmentId,
    personalFields: ["reason"],
  }),
  "appointment.completed": event({
    topic: "appointment-events",
    aggregateType: "appointment",
    schema: appointmentCompletedSchema,
    aggregateId: (data) => data.appointmentId,
  }),
  "appointment.reminder": event({
    topic: "appointment-events",
    aggregateType: "appointment",
    schema: appointmentReminderSchema,
    aggregateId: (data) => data.appointmentId,
  }),

  "document.uploaded": event({
    topic: "document-events",
    aggregateType: "document",
    schema: documentUploadedSchema,
    aggregateId: (data) => data.documentId,
    personalFields: ["fileName", "storageUrl"],
    sealedSince: { storageUrl: "2026-12-01" },
  }),
  "document.deleted": event({
    topic: "document-events",
    aggregateType: "document",
    schema: documentDeletedSchema,
    aggregateId: (data) => data.documentId,
    personalFields: ["reason"],
  }),
  "consent.given": event({
    topic: "document-events",
    aggregateType: "document",
    schema: consentGivenSchema,
    aggregateId: (data) => data.documentId,
    // Free text naming whom the patient lets see their document: a relative or a lawyer as often as a clinic.
    personalFields: ["grantedTo"],
    sealedSince: { grantedTo: "2026-12-04" },
  }),
  "document.processed": event({
    topic: "document-events",
    aggregateType: "document",
    schema: documentProcessedSchema,
    aggregateId: (data) => data.documentId,
    // A failure's reason is the processor's free text, which quotes the document as readily as a summary does.
    personalFields: ["extracted.summary", "failureReason"],
    sealedSince: { failureReason: "2026-12-07" },
  }),

  "audit.data.accessed": event({
    topic: "audit-events",
    aggregateType: "actor",
    schema: dataAccessedSchema,
    aggregateId: (data) => data.actorId,
  }),
  "audit.data.modified": event({
    topic: "audit-events",
    aggregateType: "actor",
    schema: dataModifiedSchema,
    aggregateId: (data) => data.actorId,
  }),
  "audit.login.attempt": event({
    topic: "audit-events",
    aggregateType: "actor",
    schema: loginAttemptSchema,
    // A patient's typed username (their e-mail) is sealed, so it must not be the aggregate id either.
    aggregateId: (data) => data.userId ?? data.patientId ?? data.username,
    // The reason is free text from the identity provider, which may quote the username ("unknown user ada@…").
    personalFields: ["username", "reason"],
    sealedSince: { reason: "2026-12-04" },
    // A failed login on a username that is no patient's must still be recorded (the compliance watch counts
    // them); it is nobody's patient data, so nothing could, or need, seal it.
    personalOnlyAboutPatient: true,
  }),
  "audit.compliance.violation": event({
    topic: "audit-events",
    aggregateType: "actor",
    schema: complianceViolationSchema,
    aggregateId: (data) => data.actorId,
  }),
  "audit.compliance.alert": event({
    topic: "audit-events",
    aggregateType: "actor",
    schema: complianceAlertSchema,
    aggregateId: (data) => data.principal.id,
  }),
  "audit.history.replayed": event({
    topic: "audit-events",
    aggregateType: "actor",
    schema: historyReplayedSchema,
    // The operator who ran the replay: "what did this person do" is one aggregate's history.
    aggregateId: (data) => data.operator,
  }),
  "audit.operator.decrypted": event({
    topic: "audit-events",
    aggregateType: "actor",
    schema: operatorDecryptedSchema,
    // As for a replay, the operator: their history is one aggregate's. The data's patientId puts the event in
    // that patient's history too (the outbox's patient_id), where the auditors look for every access.
    aggregateId: (data) => data.operator,
  }),

  "notification.email.requested": event({
    topic: "notification-events",
    aggregateType: "notification",
    schema: emailRequestedSchema,
    aggregateId: (data) => data.notificationId,
    personalFields: ["to", "subject", "variables"],
  }),
  "notification.sms.requested": event({
    topic: "notification-events",
    aggregateType: "notification",
    schema: smsRequestedSchema,
    aggregateId: (data) => data.notificationId,
    personalFields: ["to", "body"],
  }),
  "notification.push.requested": event({
    topic: "notification-events",
    aggregateType: "notification",
    schema: pushRequestedSchema,
    aggregateId: (data) => data.notificationId,
    personalFields: ["title", "body"],
  }),

  "ai.model.trained": event({
    topic: "ai-events",
    aggregateType: "model",
    schema: modelTrainedSchema,
    aggregateId: (data) => data.modelId,
  }),
  "ai.prediction.generated": event({
    topic: "ai-events",
    aggregateType: "patient",
    schema: predictionGeneratedSchema,
    aggregateId: (data) => data.patientId,
    personalFields: ["label"],
    sealedSince: { label: "2026-12-01" },
  }),
  "ai.insight.created": event({
    topic: "ai-events",
    aggregateType: "insight",
    schema: insightCreatedSchema,
    aggregateId: (data) => data.insightId,
    personalFields: ["summary"],
  }),
  "ai.model.performance.updated": event({
    topic: "ai-events",
    aggregateType: "model",
    schema: modelPerformanceUpdatedSchema,
    aggregateId: (data) => data.modelId,
  }),
};

type EventCatalog = typeof eventCatalog;

export type EventType = keyof EventCatalog;

/** The `data` of an event of type T, as its schema describes it. */
export type EventData<T extends EventType> = z.output<EventCatalog[T]["schema"]>;

/** An event as a service appends it: `data` is checked against its own type at compile time. */
export type NewEvent = { [T in EventType]: { type: T; data: EventData<T> } }[EventType];

/** An envelope whose `data` has been checked against its event type; narrow it by `eventType`. */
export type TypedEnvelope<T extends EventType = EventType> = T extends EventType
  ? Omit<Envelope, "eventType" | "data"> & { eventType: T; data: EventData<T> }
  : never;

export interface EventDefinition<T extends EventType = EventType> {
  readonly type: T;
  readonly topic: TopicName;
  readonly aggregateType: AggregateType;
  /** Copied from the topic, so the write path needs only the event's definition to choose the key. */
  readonly keyedBy: KeyedBy;
  readonly schema: z.ZodType<EventData<T>>;
  readonly aggregateId: (data: EventData<T>) => string;
  /** Dotted paths into `data`; empty for event types without personal data. */
  readonly personalFields: readonly string[];
  /** Personal fields of an event that names no patient are written as given (see CatalogEntry). */
  readonly personalOnlyAboutPatient: boolean;
  /** Personal fields that events written before their rule hold in plain text (see CatalogEntry). */
  readonly sealedSince: Readonly<Record<string, string>>;
}

export const eventTypes = Object.keys(eventCatalog) as readonly EventType[];

const definitions = new Map<string, EventDefinition>(
  eventTypes.map((type) => {
    const entry = eventCatalog[type];
    // The entries differ in their data type; erasing it here is safe because `type` selects both the entry's
    // schema and its key function, and data reaches aggregateId only after that schema has parsed it.
    const definition = {
      type,
      personalFields: [],
      personalOnlyAboutPatient: false,
      sealedSince: {},
      ...entry,
      keyedBy: topicCatalog[entry.topic].keyedBy,
    } as unknown as EventDefinition;
    return [type, definition];
  }),
);

export function isEventType(value: string): value is EventType {
  return definitions.has(value);
}

/** The definition of one event type; throws UnknownEventTypeError for a type the catalog does not hold. */
export function eventDefinition<T extends EventType>(type: T): EventDefinition<T>;
export function eventDefinition(type: string): EventDefinition;
export function eventDefinition(type: string): EventDefinition {
  const definition = definitions.get(type);
  if (definition === undefined) throw new UnknownEventTypeError(type);
  return definition;
}

/**
 * Checks `data` against the schema of its event type and returns it typed; throws EventValidationError
 * naming the event type and every bad field (`dateOfBirth: must not be in the future`).
 */
export function parseEventData<T extends EventType>(type: T, data: unknown): EventData<T> {
  const result = eventDefinition(type).schema.safeParse(data, { error: missingFieldIsRequired });
  if (!result.success) throw EventValidationError.fromZod(type, result.error);
  return result.data;
}

/**
 * The Kafka record key of an event: its aggregate id, or its own id on a topic keyed by eventId (audit-events).
 * Both relays and the outbox write path take the key from here, so they cannot disagree.
 */
export function recordKey<T extends EventType>(type: T, eventId: string, data: EventData<T>): string {
  const definition = eventDefinition(type);
  return definition.keyedBy === "eventId" ? eventId : definition.aggregateId(data);
}

/**
 * Reads an envelope as a consumer receives it (already JSON-parsed): checks the envelope, that its type is
 * cataloged (else UnknownEventTypeError, so a consumer can park events newer than itself), and its data.
 */
export function parseEnvelope(value: unknown): TypedEnvelope {
  return parseEnvelopeData(readEnvelope(value));
}

/**
 * The first half of parseEnvelope: the envelope checked and its type known, its data not yet checked, as a
 * consumer needs it before opening the data's sealed personal fields (phi/decryptEvent.ts).
 */
export function readEnvelope(value: unknown): Envelope & { eventType: EventType } {
  const envelope = envelopeSchema.safeParse(value, { error: missingFieldIsRequired });
  if (!envelope.success) throw EventValidationError.fromZod(null, envelope.error);
  eventDefinition(envelope.data.eventType);
  return envelope.data as Envelope & { eventType: EventType };
}

/** The second half: checks the envelope's data against its type's schema (errors under `data.`). */
export function parseEnvelopeData(envelope: Envelope & { eventType: EventType }): TypedEnvelope {
  const result = eventDefinition(envelope.eventType).schema.safeParse(envelope.data, {
    error: missingFieldIsRequired,
  });
  if (!result.success) throw EventValidationError.fromZod(envelope.eventType, result.error, ["data"]);
  return { ...envelope, data: result.data } as TypedEnvelope;
}

// The one write path into the outbox: services call `appendEvents` inside their `writeTransaction`, next
// to their own state changes, so the events commit (or roll back) with them.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { uuid } from "../../events/fields.ts";
import {
  ENVELOPE_VERSION,
  type Envelope,
  type EventMetadata,
  eventDefinition,
  type NewEvent,
  parseEventData,
  recordKey,
} from "../../events/index.ts";
import { EventTooLarge, MAX_EVENT_BYTES, recordBytes, recordHeaders } from "../../events/record.ts";
import { inSpan, traceHeadersOf } from "../../events/tracing.ts";
import type { MasterKeys } from "../../phi/masterKeys.ts";
import {
  carriesPersonalFields,
  keyOwner,
  PersonalFieldsUnsealable,
  sealPersonalFields,
  sealPersonalMetadata,
  withoutPersonalMetadata,
} from "../../phi/personalFields.ts";
import { takeKeysToInsert } from "../begunKeys.ts";
import { connectionOf, type WriteTransaction } from "../client.ts";
import { dataKeysForWriting, liveDataKeys } from "../patientKeys.ts";
import { takeHead } from "./aggregateHeads.ts";
import { bumpAggregateVersions } from "./bumpAggregateVersions.ts";
import { eventHash, type HashedEventFields } from "./eventHash.ts";
import { insertOutboxRows, type NewAggregateHead } from "./insertOutboxRows.ts";

export interface EventContext {
  /** The emitting service, e.g. "patient-service". */
  source: string;
  metadata: EventMetadata;
  /** The master keys that wrap the patients' data keys: this process's, loaded once at its start. */
  masterKeys: MasterKeys;
  /**
   * The request's principal is a patient (metadata.userId their login): where they wrote from and on what device is
   * their personal data, kept (sealed under the key) only in events about a record of that login, and left out of
   * an event about nobody or about another patient, where their erasure could not take it back.
   */
  actingPatient?: boolean;
}

export interface AppendedEvent {
  eventId: string;
  eventType: string;
  topic: string;
  key: string;
  aggregateVersion: number | null;
  /** As stored and sent: personal fields sealed. */
  envelope: Envelope;
}

/**
 * Validates each event against its schema, wraps it in the envelope and inserts the outbox rows.
 * An invalid event throws before anything is written, and the caller's transaction rolls back.
 *
 * Personal fields are sealed with the data key of the patient the event names (phi/): the outbox, both
 * relays and Kafka only ever see their ciphertext, and the hash covers it. This fails closed: an event that
 * carries personal fields but names no patient, or whose patient has no key, throws PersonalFieldsUnsealable;
 * an erased patient's key is gone, so an event with personal data about them throws PatientErased.
 * The request's IP address and user agent are sealed the same way in every event about a patient, and left
 * out once they are erased.
 * An aggregate id is a record key and a hash chain, so it must be a canonical (lower-case) UUID, or the
 * event throws NonCanonicalAggregateId: another spelling would start a second aggregate.
 *
 * Events of one aggregate get consecutive versions from `aggregate_versions`, which the transaction writes:
 * at REPEATABLE READ, writers of one aggregate cannot both write its row, so they are serialized and commit in
 * version order. The same row carries the aggregate's latest hash, so each event is chained to the one before it.
 */
export function appendEvents(
  tx: WriteTransaction,
  context: EventContext,
  events: readonly NewEvent[],
): Promise<AppendedEvent[]> {
  // The rows store this span's trace context (W3C traceparent and tracestate): the relay's publish links to
  // it, and whoever consumes the records continues the trace from it. Without a tracer provider it is the
  // caller's context, unchanged (the request's own traceparent), or none.
  return inSpan(
    "healthcare-events/db",
    "outbox append",
    { attributes: { "outbox.event_count": events.length, "outbox.source": context.source } },
    () => appendInSpan(tx, context, events),
  );
}

/** Which of `owners` are records of the login `userId` (a patient acting on their own records). */
async function recordsOfLogin(
  tx: WriteTransaction,
  userId: string | null,
  owners: ReadonlyArray<string | null>,
): Promise<Set<string>> {
  const named = [...new Set(owners.filter((owner): owner is string => owner !== null))];
  if (userId === null || named.length === 0) return new Set();
  const { rows } = await connectionOf(tx).query<{ id: string }>({
    name: "outbox.records-of-login.v1",
    text: "SELECT id::text FROM patients WHERE user_id = $1 AND id = ANY($2::uuid[])",
    values: [userId, named],
  });
  return new Set(rows.map((row) => row.id));
}

async function appendInSpan(
  tx: WriteTransaction,
  context: EventContext,
  events: readonly NewEvent[],
): Promise<AppendedEvent[]> {
  const createdAt = new Date();
  const trace = traceHeadersOf();
  const parsed = events.map((event) => {
    const definition = eventDefinition(event.type);
    const data = parseEventData(event.type, event.data) as Record<string, unknown>;
    if (definition.keyedBy === "aggregate") assertCanonicalAggregateId(event.type, definition, data);
    return { event, definition, data, sealedFor: sealingKeyOwner(event.type, data), eventId: randomUUID() };
  });
  const keys = await dataKeysFor(tx, parsed, context.masterKeys);
  // Events about a patient with no personal fields of their own (an access record, say) still carry the
  // request's metadata: it is sealed under the patient's key while there is one.
  const metadataKeys = await liveDataKeys(
    tx,
    parsed
      .map(({ data }) => keyOwner(data))
      .filter((owner): owner is string => owner !== null && !keys.has(owner)),
    context.masterKeys,
  );
  const actorsRecords = context.actingPatient
    ? await recordsOfLogin(
        tx,
        context.metadata.userId,
        parsed.map(({ data }) => keyOwner(data)),
      )
    : undefined;
  // The request's IP and device: left out where they are an acting patient's about another; plain in an event
  // about nobody; else sealed under the owner's key (null once it is gone).
  const metadataOf = (owner: string | null, eventId: string): EventMetadata => {
    if (actorsRecords !== undefined && (owner === null || !actorsRecords.has(owner)))
      return withoutPersonalMetadata(context.metadata);
    if (owner === null) return context.metadata;
    return sealPersonalMetadata(
      eventId,
      context.metadata,
      keys.get(owner) ?? metadataKeys.get(owner) ?? null,
    );
  };
  const prepared: PreparedEvent[] = parsed.map(({ event, definition, data, sealedFor, eventId }) => {
    const owner = keyOwner(data);
    const envelope: Envelope = {
      eventId,
      eventType: event.type,
      timestamp: createdAt.toISOString(),
      source: context.source,
      version: ENVELOPE_VERSION,
      data:
        sealedFor === null
          ? data
          : sealPersonalFields(event.type, eventId, data, keyOf(keys, event, sealedFor)),
      metadata: metadataOf(owner, eventId),
    };
    return {
      envelope,
      keyedBy: definition.keyedBy,
      fields: {
        eventId,
        eventType: event.type,
        aggregateType: definition.aggregateType,
        aggregateId: definition.aggregateId(data as never),
        aggregateVersion: null,
        topic: definition.topic,
        messageKey: recordKey(event.type, eventId, data as never),
        // Serialized here, once: these exact bytes are the Kafka record value, whichever relay sends it.
        payload: JSON.stringify(envelope),
        correlationId: context.metadata.correlationId,
        traceparent: trace.traceparent,
        tracestate: trace.tracestate,
        createdAt,
      },
      patientId: keyOwner(data),
      previousHash: null,
      hash: Buffer.alloc(0),
    };
  });
  if (prepared.length === 0) return [];
  for (const { fields } of prepared) refuseOversized(fields);

  const client = connectionOf(tx);
  const heads = await chainToAggregates(client, prepared);
  for (const event of prepared) {
    if (event.keyedBy === "eventId") event.hash = eventHash(null, event.fields);
  }
  await insertOutboxRows(client, prepared, heads, createdAt, takeKeysToInsert(client));

  return prepared.map(({ envelope, fields }) => ({
    eventId: fields.eventId,
    eventType: fields.eventType,
    topic: fields.topic,
    key: fields.messageKey,
    aggregateVersion: fields.aggregateVersion,
    envelope,
  }));
}

interface PreparedEvent {
  envelope: Envelope;
  keyedBy: "aggregate" | "eventId";
  fields: HashedEventFields;
  /** The patient the event is about (its data's `patientId`), for the auditors' per-patient history. Not
   * hashed: it is derived from the payload, which is. */
  patientId: string | null;
  previousHash: Buffer | null;
  hash: Buffer;
}

/**
 * Numbers each touched aggregate's events in order from its head and chains their hashes from its last one;
 * returns the aggregates' new heads, which the outbox insert stores in the same statement. The head of an
 * aggregate the transaction declared (writeTransaction's `appendsTo`, `lockAggregate`) was read when it
 * began; the others' rows are bumped here by their number of events, which returns their heads. Events keyed
 * by their own id (audit) belong to no chain.
 */
async function chainToAggregates(
  client: pg.ClientBase,
  events: PreparedEvent[],
): Promise<NewAggregateHead[]> {
  const byAggregate = new Map<string, PreparedEvent[]>();
  for (const event of events) {
    if (event.keyedBy === "eventId") continue;
    const id = aggregateKey(event.fields.aggregateType, event.fields.aggregateId);
    const group = byAggregate.get(id);
    if (group) group.push(event);
    else byAggregate.set(id, [event]);
  }
  if (byAggregate.size === 0) return [];
  // Rows are locked in a fixed order, so two multi-aggregate writers cannot deadlock each other.
  const groups = [...byAggregate.keys()].sort().map((id) => {
    const group = byAggregate.get(id) as PreparedEvent[];
    const { aggregateType, aggregateId } = (group[0] as PreparedEvent).fields;
    return { aggregateType, aggregateId, events: group, read: takeHead(client, aggregateType, aggregateId) };
  });
  const undeclared = groups.filter((group) => group.read === undefined);
  const bumped =
    undeclared.length === 0
      ? []
      : await bumpAggregateVersions(
          client,
          undeclared.map(({ aggregateType, aggregateId, events }) => ({
            aggregateType,
            aggregateId,
            events: events.length,
          })),
        );
  const bumpedHeads = new Map(bumped.map((row) => [aggregateKey(row.aggregateType, row.aggregateId), row]));

  return groups.map(({ aggregateType, aggregateId, events: group, read }) => {
    const bumpedHead = bumpedHeads.get(aggregateKey(aggregateType, aggregateId));
    // A bumped row already holds its new version; a declared one holds the version read, moved on here.
    const head = read ?? bumpedHead;
    if (!head) throw new Error(`no version row came back for ${aggregateType} ${aggregateId}`);
    const version = read ? read.version + group.length : head.version;
    let previous: Buffer | null = head.lastHash.length > 0 ? head.lastHash : null;
    group.forEach((event, index) => {
      event.fields.aggregateVersion = version - group.length + index + 1;
      event.previousHash = previous;
      event.hash = eventHash(previous, event.fields);
      previous = event.hash;
    });
    return { aggregateType, aggregateId, expectedVersion: head.version, version, hash: previous as Buffer };
  });
}

/**
 * Every record must fit in what Kafka accepts, or the relays could never deliver it (and nothing after it on
 * its partition): an event bigger than MAX_EVENT_BYTES, counted as its Kafka record, is refused here.
 */
function refuseOversized(fields: HashedEventFields): void {
  const bytes = recordBytes({
    key: fields.messageKey,
    value: fields.payload,
    headers: recordHeaders(fields),
  });
  if (bytes > MAX_EVENT_BYTES) throw new EventTooLarge(fields.eventType, bytes);
}

/** An aggregate id that is not a canonical UUID. The schemas allow none; this guards the catalog's key functions. */
export class NonCanonicalAggregateId extends Error {
  constructor(
    readonly eventType: string,
    readonly aggregateId: string,
  ) {
    super(
      `${eventType}: the aggregate id "${aggregateId}" is not a UUID in lower case; the event is refused`,
    );
    this.name = "NonCanonicalAggregateId";
  }
}

function assertCanonicalAggregateId(
  eventType: string,
  definition: { aggregateId: (data: never) => string },
  data: Record<string, unknown>,
): void {
  const aggregateId = definition.aggregateId(data as never);
  if (!uuid.safeParse(aggregateId).success) throw new NonCanonicalAggregateId(eventType, aggregateId);
}

/**
 * Whose key must seal the event's personal fields: null when it carries none. An event with personal fields
 * and no patient (a message to staff, a population-level insight) has no key whose destruction would erase
 * them, so it is refused rather than written in plain text.
 */
function sealingKeyOwner(eventType: string, data: Record<string, unknown>): string | null {
  if (!carriesPersonalFields(eventType, data)) return null;
  const owner = keyOwner(data);
  if (owner === null && eventDefinition(eventType).personalOnlyAboutPatient) return null;
  if (owner === null)
    throw new PersonalFieldsUnsealable(eventType, "it names no patient whose key could seal them");
  if (!uuid.safeParse(owner).success) {
    // Not quoted: a message of a DataFreeError names no value it was given.
    throw new PersonalFieldsUnsealable(eventType, "its patientId is not a UUID in lower case");
  }
  return owner;
}

/** The data keys of the patients whose personal fields these events carry (none for most audit events). */
function dataKeysFor(
  tx: WriteTransaction,
  events: ReadonlyArray<{ sealedFor: string | null }>,
  masters: MasterKeys,
): Promise<Map<string, Buffer>> {
  const owners = events.flatMap(({ sealedFor }) => (sealedFor === null ? [] : [sealedFor]));
  return owners.length === 0 ? Promise.resolve(new Map()) : dataKeysForWriting(tx, owners, masters);
}

function keyOf(keys: Map<string, Buffer>, event: NewEvent, patientId: string): Buffer {
  const key = keys.get(patientId);
  if (!key) throw new PersonalFieldsUnsealable(event.type, `no data key was found for patient ${patientId}`);
  return key;
}

function aggregateKey(aggregateType: string, aggregateId: string): string {
  return `${aggregateType}\u0000${aggregateId}`;
}

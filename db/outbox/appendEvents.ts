// The one write path into the outbox: services call `appendEvents` inside their `writeTransaction`, next
// to their own state changes, so the events commit (or roll back) with them.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import {
  ENVELOPE_VERSION,
  type Envelope,
  type EventMetadata,
  eventDefinition,
  type NewEvent,
  parseEventData,
  recordKey,
} from "../../events/index.ts";
import type { WriteTransaction } from "../client.ts";
import { aggregateVersions, outbox } from "../schema.ts";

export interface EventContext {
  /** The emitting service, e.g. "patient-service". */
  source: string;
  metadata: EventMetadata;
  /** The W3C trace context of the request that caused the events, carried into the Kafka headers. */
  traceparent?: string | null;
}

export interface AppendedEvent {
  eventId: string;
  eventType: string;
  topic: string;
  key: string;
  aggregateVersion: number | null;
  envelope: Envelope;
}

/**
 * Validates each event against its schema, wraps it in the envelope and inserts the outbox rows.
 * An invalid event throws before anything is written, and the caller's transaction rolls back.
 *
 * Events of one aggregate get consecutive versions from `aggregate_versions`; bumping that row is a write
 * lock on the aggregate, so concurrent writers of one aggregate are serialized and commit in version order.
 */
export async function appendEvents(
  tx: WriteTransaction,
  context: EventContext,
  events: readonly NewEvent[],
): Promise<AppendedEvent[]> {
  const timestamp = new Date();
  const prepared = events.map((event) => {
    const definition = eventDefinition(event.type);
    const data = parseEventData(event.type, event.data);
    const eventId = randomUUID();
    const envelope: Envelope = {
      eventId,
      eventType: event.type,
      timestamp: timestamp.toISOString(),
      source: context.source,
      version: ENVELOPE_VERSION,
      data,
      metadata: context.metadata,
    };
    const aggregateId = definition.aggregateId(data as never);
    const key = recordKey(event.type, eventId, data as never);
    return { definition, envelope, aggregateId, key, aggregateVersion: null as number | null };
  });

  await assignAggregateVersions(tx, prepared);

  if (prepared.length > 0) {
    await tx.insert(outbox).values(
      prepared.map((event) => ({
        eventId: event.envelope.eventId,
        eventType: event.envelope.eventType,
        aggregateType: event.definition.aggregateType,
        aggregateId: event.aggregateId,
        aggregateVersion: event.aggregateVersion,
        topic: event.definition.topic,
        messageKey: event.key,
        // Serialized here, once: these exact bytes are the Kafka record value, whichever relay sends it.
        payload: sql`${JSON.stringify(event.envelope)}::json`,
        correlationId: context.metadata.correlationId,
        traceparent: context.traceparent ?? null,
        createdAt: timestamp,
      })),
    );
  }

  return prepared.map((event) => ({
    eventId: event.envelope.eventId,
    eventType: event.envelope.eventType,
    topic: event.definition.topic,
    key: event.key,
    aggregateVersion: event.aggregateVersion,
    envelope: event.envelope,
  }));
}

/** Bumps each touched aggregate's version by its number of events and numbers the events in order. */
async function assignAggregateVersions(
  tx: WriteTransaction,
  events: Array<{
    definition: { aggregateType: string; keyedBy: string };
    aggregateId: string;
    aggregateVersion: number | null;
  }>,
): Promise<void> {
  const byAggregate = new Map<string, typeof events>();
  for (const event of events) {
    if (event.definition.keyedBy === "eventId") continue;
    const id = `${event.definition.aggregateType}\u0000${event.aggregateId}`;
    byAggregate.set(id, [...(byAggregate.get(id) ?? []), event]);
  }
  // A fixed order of lock acquisition keeps two multi-aggregate writers from deadlocking each other.
  for (const id of [...byAggregate.keys()].sort()) {
    const group = byAggregate.get(id) ?? [];
    const first = group[0];
    if (!first) continue;
    const [row] = await tx
      .insert(aggregateVersions)
      .values({
        aggregateType: first.definition.aggregateType,
        aggregateId: first.aggregateId,
        version: group.length,
      })
      .onConflictDoUpdate({
        target: [aggregateVersions.aggregateType, aggregateVersions.aggregateId],
        set: { version: sql`${aggregateVersions.version} + ${group.length}` },
      })
      .returning({ version: aggregateVersions.version });
    const last = row?.version ?? group.length;
    group.forEach((event, index) => {
      event.aggregateVersion = last - group.length + index + 1;
    });
  }
}

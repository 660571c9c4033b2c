// The inbox: which events a consumer has already processed. Recording an event id in the handler's own
// transaction is what makes a redelivery (after a crash, a rebalance or a re-drive) change nothing.
import { createHash } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import type pg from "pg";
import { connectionOf, type Database, type WriteTransaction } from "../../db/client.ts";
import { consumerInbox } from "../../db/schema.ts";
import { sweepAlone } from "../../db/sweepAlone.ts";
import { isTopicName, redeliveryWindowDays, topics } from "../../events/index.ts";
import type { RecordOrigin } from "./deadLetters.ts";

/**
 * What the inbox makes of a record's event. An event id names one event, of one type, with one value: a true
 * duplicate (the relay's retry, a redelivery, a re-drive, a replay to the events' own topic) carries the id with
 * the type it was processed as and the very bytes it was read with (both relays send the outbox row's payload
 * unchanged, and a re-drive or a replay sends the record's). The same id with another type or another value is
 * no duplicate but a record reusing the id (a bug upstream, or a forged record): acknowledging it unhandled would
 * hide it, handling it would give one event two effects, so it is refused. The topic is not compared: the
 * catalog gives each type one topic and decodeRecord refuses an event read anywhere else (`wrong-topic`), so the
 * same type is the same topic; and a replay to another topic (`--to-topic`) is for a consumer of its own, with an
 * inbox of its own, not a second path into this one.
 */
export type InboxVerdict =
  /** Not processed before: recorded now, and the caller has its effect. */
  | { kind: "new" }
  /** Processed before as the same event and value, or earlier among the records recorded together: no effect. */
  | { kind: "duplicate" }
  /** Processed before as `processedAs` with another event type or another value: refused, never handled. */
  | { kind: "id-reused"; processedAs: string; differs: "event-type" | "value" };

/** An event as a record carried it: its id and type, and the SHA-256 of the record's value (`valueDigest`). */
export interface ReadEvent {
  eventId: string;
  eventType: string;
  valueSha256: Buffer;
}

/** What the inbox holds of a processed event. The value's digest is null for events recorded before it was kept. */
interface ProcessedEvent {
  eventType: string;
  valueSha256: Buffer | null;
}

/** The digest the inbox compares a redelivery's value with: the record value's bytes, as read. */
export function valueDigest(value: Buffer | null): Buffer {
  return createHash("sha256")
    .update(value ?? Buffer.alloc(0))
    .digest();
}

type InboxRecord = { event: ReadEvent; origin: RecordOrigin };

/**
 * Records the event as processed by `consumer`, unless it was: then the caller must leave the transaction
 * without effect. An external effect's consumer records it on its own (`db`), after the effect; a
 * transactional one in its handler's transaction, first: the primary key makes a concurrent processing of the
 * same event (the old owner of a partition still busy after a rebalance) wait here for the other transaction,
 * then find its row (under REPEATABLE READ Postgres reports a serialization failure instead, and
 * writeTransaction's retry then sees the row).
 */
export async function recordInInbox(
  tx: WriteTransaction | Database,
  consumer: string,
  event: ReadEvent,
  origin: RecordOrigin,
): Promise<InboxVerdict> {
  const [verdict] = await recordAllInInbox(tx, consumer, [{ event, origin }]);
  return verdict as InboxVerdict;
}

/**
 * Records many events at once, in one statement, as `recordInInbox` does one: a verdict per record, in their
 * order. An id that comes twice is new at its first record only; a later one of another type or value reuses it.
 */
export async function recordAllInInbox(
  tx: WriteTransaction | Database,
  consumer: string,
  records: readonly InboxRecord[],
): Promise<InboxVerdict[]> {
  const client = clientOf(tx);
  const column = <V>(pick: (record: InboxRecord) => V) => records.map(pick);
  const { rows } = await client.query<ProcessedEvent & { eventId: string; recordedNow: boolean }>({
    name: "consumer-inbox.record.v3",
    text: recordInInboxSql,
    values: [
      consumer,
      column(({ event }) => event.eventId),
      column(({ event }) => event.eventType),
      column(({ origin }) => origin.topic),
      column(({ origin }) => origin.partition),
      column(({ origin }) => origin.offset),
      column(({ event }) => event.valueSha256),
    ],
  });
  const recordedNow = new Map(rows.filter((row) => row.recordedNow).map((row) => [row.eventId, row]));
  const recordedBefore = new Map<string, ProcessedEvent>(
    rows.filter((row) => !row.recordedNow).map((row) => [row.eventId, row]),
  );
  // Neither recorded nor found: another transaction recorded the event after this statement's snapshot was
  // taken, which only READ COMMITTED lets through (REPEATABLE READ fails instead): its row is read again.
  const unseen = records.filter(
    ({ event }) => !recordedNow.has(event.eventId) && !recordedBefore.has(event.eventId),
  );
  if (unseen.length > 0) {
    const found = await processedEvents(
      client,
      consumer,
      unseen.map(({ event }) => event.eventId),
    );
    for (const [eventId, processed] of found) recordedBefore.set(eventId, processed);
  }
  const effectGiven = new Set<string>();
  return records.map(({ event }): InboxVerdict => {
    const processed = recordedBefore.get(event.eventId) ?? recordedNow.get(event.eventId);
    if (processed === undefined) {
      throw new Error(`the inbox of ${consumer} neither recorded nor holds event ${event.eventId}`);
    }
    const reused = reusedBy(event, processed);
    if (reused !== null) return reused;
    if (!recordedNow.has(event.eventId) || effectGiven.has(event.eventId)) return { kind: "duplicate" };
    effectGiven.add(event.eventId);
    return { kind: "new" };
  });
}

/** The refusal of `event` when the inbox holds its id as another event; null when it is the same one. */
export function reusedBy(
  event: ReadEvent,
  processed: ProcessedEvent,
): Extract<InboxVerdict, { kind: "id-reused" }> | null {
  const processedAs = processed.eventType;
  if (processedAs !== event.eventType) return { kind: "id-reused", processedAs, differs: "event-type" };
  if (processed.valueSha256 !== null && !processed.valueSha256.equals(event.valueSha256)) {
    return { kind: "id-reused", processedAs, differs: "value" };
  }
  return null;
}

// Every record a consumer handles costs one of these: named statements, one text whatever the number of
// records (arrays, not a VALUES list), parsed and planned once per connection. The events recorded before come
// back from the same statement (its SELECT reads the snapshot from before the INSERT, by the primary key), so
// that telling a duplicate from a reused id costs no round trip of its own.
const recordInInboxSql = `
  WITH recorded AS (
    INSERT INTO consumer_inbox
           (consumer, event_id, event_type, topic, kafka_partition, kafka_offset, value_sha256)
    SELECT $1, record.event_id, record.event_type, record.topic, record.kafka_partition, record.kafka_offset,
           record.value_sha256
      FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::bytea[])
           AS record(event_id, event_type, topic, kafka_partition, kafka_offset, value_sha256)
    ON CONFLICT DO NOTHING
    RETURNING event_id, event_type, value_sha256
  )
  SELECT event_id::text AS "eventId", event_type AS "eventType", value_sha256 AS "valueSha256",
         true AS "recordedNow"
    FROM recorded
  UNION ALL
  SELECT event_id::text, event_type, value_sha256, false
    FROM consumer_inbox
   WHERE consumer = $1 AND event_id = ANY($2::uuid[])`;

/**
 * What `consumer` holds of the event (its type and value digest), or null when it has not processed it: a cheap
 * check before work that leaves Postgres.
 */
export async function processedBefore(
  db: Database,
  consumer: string,
  eventId: string,
): Promise<ProcessedEvent | null> {
  return (await processedEvents(db.$client, consumer, [eventId])).get(eventId) ?? null;
}

async function processedEvents(
  client: pg.ClientBase | pg.Pool,
  consumer: string,
  eventIds: readonly string[],
): Promise<Map<string, ProcessedEvent>> {
  const { rows } = await client.query<ProcessedEvent & { eventId: string }>({
    name: "consumer-inbox.contains.v3",
    text: `SELECT event_id::text AS "eventId", event_type AS "eventType", value_sha256 AS "valueSha256"
             FROM consumer_inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])`,
    values: [consumer, eventIds],
  });
  return new Map(rows.map(({ eventId, ...processed }) => [eventId, processed]));
}

/** The connection a statement of the inbox runs on: the handler's transaction's, or any of the pool's. */
function clientOf(tx: WriteTransaction | Database): pg.ClientBase | pg.Pool {
  return "$client" in tx ? tx.$client : connectionOf(tx);
}

/** Daily: the windows are counted in days. */
export const INBOX_SWEEP_EVERY_MS = 86_400_000;

/**
 * Removes inbox entries past their topic's redelivery window: no record can bring their event back. Null when
 * another process is removing them right now.
 */
export async function forgetOutlivedInboxEntries(db: Database): Promise<number | null> {
  return sweepAlone(db, "consumer-inbox", async (tx) => {
    let forgotten = 0;
    for (const topic of topics) {
      const days = isTopicName(topic.name) ? redeliveryWindowDays(topic.name) : null;
      if (days === null) continue;
      const removed = await tx
        .delete(consumerInbox)
        .where(
          and(
            eq(consumerInbox.topic, topic.name),
            sql`${consumerInbox.processedAt} < now() - make_interval(days => ${days})`,
          ),
        )
        .returning({ eventId: consumerInbox.eventId });
      forgotten += removed.length;
    }
    return forgotten;
  });
}

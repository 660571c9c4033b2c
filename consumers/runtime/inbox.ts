// The inbox: which events a consumer has already processed. Recording an event id in the handler's own
// transaction is what makes a redelivery (after a crash, a rebalance or a re-drive) change nothing.
import { and, eq, sql } from "drizzle-orm";
import type pg from "pg";
import { connectionOf, type Database, type WriteTransaction } from "../../db/client.ts";
import { consumerInbox } from "../../db/schema.ts";
import { sweepAlone } from "../../db/sweepAlone.ts";
import { isTopicName, redeliveryWindowDays, topics } from "../../events/index.ts";
import type { RecordOrigin } from "./deadLetters.ts";

/**
 * What the inbox makes of a record's event. An event id names one event, of one type: a true duplicate (the
 * relay's retry, a redelivery, a re-drive, a replay to the events' own topic) carries the id with the type it
 * was processed as. The same id with another type is no duplicate but a record reusing the id (a bug upstream, or
 * a forged record): acknowledging it unhandled would hide it, handling it would give one event two effects, so
 * it is refused. The topic is not compared: the catalog gives each type one topic and decodeRecord refuses an
 * event read anywhere else (`wrong-topic`), so the same type is the same topic; and a replay to another topic
 * (`--to-topic`) is for a consumer of its own, with an inbox of its own, not a second path into this one.
 */
export type InboxVerdict =
  /** Not processed before: recorded now, and the caller has its effect. */
  | { kind: "new" }
  /** Processed before as the same event type, or earlier among the records recorded together: no effect. */
  | { kind: "duplicate" }
  /** Processed before as `processedAs`, another event type: the record is refused, never handled. */
  | { kind: "id-reused"; processedAs: string };

type InboxRecord = { event: { eventId: string; eventType: string }; origin: RecordOrigin };

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
  event: { eventId: string; eventType: string },
  origin: RecordOrigin,
): Promise<InboxVerdict> {
  const [verdict] = await recordAllInInbox(tx, consumer, [{ event, origin }]);
  return verdict as InboxVerdict;
}

/**
 * Records many events at once, in one statement, as `recordInInbox` does one: a verdict per record, in their
 * order. An id that comes twice is new at its first record only; a later one of another type reuses it.
 */
export async function recordAllInInbox(
  tx: WriteTransaction | Database,
  consumer: string,
  records: readonly InboxRecord[],
): Promise<InboxVerdict[]> {
  const client = clientOf(tx);
  const column = <V>(pick: (record: InboxRecord) => V) => records.map(pick);
  const { rows } = await client.query<{ eventId: string; eventType: string; recordedNow: boolean }>({
    name: "consumer-inbox.record.v2",
    text: recordInInboxSql,
    values: [
      consumer,
      column(({ event }) => event.eventId),
      column(({ event }) => event.eventType),
      column(({ origin }) => origin.topic),
      column(({ origin }) => origin.partition),
      column(({ origin }) => origin.offset),
    ],
  });
  const recordedNow = new Map(
    rows.filter((row) => row.recordedNow).map((row) => [row.eventId, row.eventType]),
  );
  const recordedBefore = new Map(
    rows.filter((row) => !row.recordedNow).map((row) => [row.eventId, row.eventType]),
  );
  // Neither recorded nor found: another transaction recorded the event after this statement's snapshot was
  // taken, which only READ COMMITTED lets through (REPEATABLE READ fails instead): its row is read again.
  const unseen = records.filter(
    ({ event }) => !recordedNow.has(event.eventId) && !recordedBefore.has(event.eventId),
  );
  if (unseen.length > 0) {
    const found = await processedTypes(
      client,
      consumer,
      unseen.map(({ event }) => event.eventId),
    );
    for (const [eventId, eventType] of found) recordedBefore.set(eventId, eventType);
  }
  const effectGiven = new Set<string>();
  return records.map(({ event }): InboxVerdict => {
    const processedAs = recordedBefore.get(event.eventId) ?? recordedNow.get(event.eventId);
    if (processedAs === undefined) {
      throw new Error(`the inbox of ${consumer} neither recorded nor holds event ${event.eventId}`);
    }
    if (processedAs !== event.eventType) return { kind: "id-reused", processedAs };
    if (!recordedNow.has(event.eventId) || effectGiven.has(event.eventId)) return { kind: "duplicate" };
    effectGiven.add(event.eventId);
    return { kind: "new" };
  });
}

// Every record a consumer handles costs one of these: named statements, one text whatever the number of
// records (arrays, not a VALUES list), parsed and planned once per connection. The events recorded before come
// back from the same statement (its SELECT reads the snapshot from before the INSERT, by the primary key), so
// that telling a duplicate from a reused id costs no round trip of its own.
const recordInInboxSql = `
  WITH recorded AS (
    INSERT INTO consumer_inbox (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
    SELECT $1, record.event_id, record.event_type, record.topic, record.kafka_partition, record.kafka_offset
      FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int[], $6::bigint[])
           AS record(event_id, event_type, topic, kafka_partition, kafka_offset)
    ON CONFLICT DO NOTHING
    RETURNING event_id, event_type
  )
  SELECT event_id::text AS "eventId", event_type AS "eventType", true AS "recordedNow" FROM recorded
  UNION ALL
  SELECT event_id::text, event_type, false
    FROM consumer_inbox
   WHERE consumer = $1 AND event_id = ANY($2::uuid[])`;

/**
 * The event type `consumer` processed the event as, or null when it has not processed it: a cheap check
 * before work that leaves Postgres.
 */
export async function processedAs(db: Database, consumer: string, eventId: string): Promise<string | null> {
  return (await processedTypes(db.$client, consumer, [eventId])).get(eventId) ?? null;
}

async function processedTypes(
  client: pg.ClientBase | pg.Pool,
  consumer: string,
  eventIds: readonly string[],
): Promise<Map<string, string>> {
  const { rows } = await client.query<{ eventId: string; eventType: string }>({
    name: "consumer-inbox.contains.v2",
    text: `SELECT event_id::text AS "eventId", event_type AS "eventType"
             FROM consumer_inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])`,
    values: [consumer, eventIds],
  });
  return new Map(rows.map((row) => [row.eventId, row.eventType]));
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

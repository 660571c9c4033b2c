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
 * Records the event as processed by `consumer`; false when it already was, and the caller must then leave
 * the transaction without effect. An external effect's consumer records it on its own (`db`), after the
 * effect; a transactional one in its handler's transaction, first: the primary key makes a concurrent
 * processing of the same event (the old owner of a partition still busy after a rebalance) wait here for
 * the other transaction, then find its row (under REPEATABLE READ Postgres reports a serialization failure
 * instead, and writeTransaction's retry then sees the row).
 */
export async function recordInInbox(
  tx: WriteTransaction | Database,
  consumer: string,
  event: { eventId: string; eventType: string },
  origin: RecordOrigin,
): Promise<boolean> {
  return (await recordAllInInbox(tx, consumer, [{ event, origin }])).size === 1;
}

/**
 * Records many events at once, in one statement, as `recordInInbox` does one: the ids of those that were
 * not recorded before. An id that comes twice is returned once: only its first record may have an effect.
 */
export async function recordAllInInbox(
  tx: WriteTransaction | Database,
  consumer: string,
  records: ReadonlyArray<{ event: { eventId: string; eventType: string }; origin: RecordOrigin }>,
): Promise<Set<string>> {
  const column = <V>(pick: (record: (typeof records)[number]) => V) => records.map(pick);
  const { rows } = await clientOf(tx).query<{ eventId: string }>({
    name: "consumer-inbox.record.v1",
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
  return new Set(rows.map((row) => row.eventId));
}

// Every record a consumer handles costs one of these (and a deduplicated one, a check first): named statements,
// one text whatever the number of records (arrays, not a VALUES list), parsed and planned once per connection.
const recordInInboxSql = `
  INSERT INTO consumer_inbox (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
  SELECT $1, record.event_id, record.event_type, record.topic, record.kafka_partition, record.kafka_offset
    FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int[], $6::bigint[])
         AS record(event_id, event_type, topic, kafka_partition, kafka_offset)
  ON CONFLICT DO NOTHING
  RETURNING event_id::text AS "eventId"`;

/** Whether `consumer` has processed the event: a cheap check before work that leaves Postgres. */
export async function isInInbox(db: Database, consumer: string, eventId: string): Promise<boolean> {
  const { rowCount } = await db.$client.query({
    name: "consumer-inbox.contains.v1",
    text: "SELECT 1 FROM consumer_inbox WHERE consumer = $1 AND event_id = $2",
    values: [consumer, eventId],
  });
  return (rowCount ?? 0) > 0;
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

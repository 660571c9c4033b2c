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
 *
 * A record whose event this consumer has not processed is only new if it is a committed event: the outbox holds
 * a row with its event id whose payload is, byte for byte, the record's value (compared by SHA-256), or, once the
 * row was archived, the archive kept its id with that payload's digest (outbox_archived_digests). Anything else (a
 * record someone with produce access wrote, reusing a real event's id or not, read before the real one if there
 * is one) is refused as `not-committed`, whatever it says. A duplicate of an event processed before is
 * acknowledged without that check: it has no effect.
 *
 * Nor is a committed event new when the consumer has applied a newer event of its aggregate from the same topic
 * (a higher `aggregate_version`): it is `superseded`, acknowledged unapplied and unrecorded. A topic's records
 * reach a consumer in their aggregate's order, so only a copy sent again meets this: a replay to the events' own
 * topic of an event the consumer parked in its dead-letter topic before it applied the next one; applied, the
 * older event would overwrite the newer (a consent grant over the withdrawal that followed it). Events of one
 * aggregate on two topics (a patient's on patient-events and ai-events) have no order between them: they are
 * not compared.
 */
export type InboxVerdict =
  /** Not processed before: recorded now, and the caller has its effect. */
  | { kind: "new" }
  /** Processed before as the same event and value, or earlier among the records recorded together: no effect. */
  | { kind: "duplicate" }
  /** Processed before as `processedAs` with another event type or another value: refused, never handled. */
  | { kind: "id-reused"; processedAs: string; differs: "event-type" | "value" }
  /** Not processed before, and not a committed event: refused, never handled. */
  | NotCommitted
  /** Not processed before, and older than `newer`, an event of its aggregate processed since: skipped. */
  | { kind: "superseded"; newer: AppliedSince };

/** The newest event of a record's aggregate that the consumer has applied, later than the record's. */
export interface AppliedSince {
  eventId: string;
  aggregateVersion: string;
}

export interface NotCommitted {
  kind: "not-committed";
  /**
   * What holds its event id: `nothing` (neither the outbox nor the archived events' digests: forged, or archived
   * before archives kept digests), or the outbox (`outbox-other-value`) or an archive (`archived-other-value`)
   * with another value.
   */
  found: "nothing" | "outbox-other-value" | "archived-other-value";
}

/** Where a committed event's payload digest was read: its outbox row, or the digest its archive kept. */
type CommittedIn = "outbox" | "archived";

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
  const { rows } = await client.query<InboxRow>({
    name: "consumer-inbox.record.v6",
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
  const recordedNow = new Map<string, ProcessedEvent>();
  const recordedBefore = new Map<string, ProcessedEvent>();
  const committed = new Map<string, CommittedDigest>();
  const superseded = new Map<string, AppliedSince>();
  for (const { source, eventId, eventType, valueSha256, newerEventId, newerVersion } of rows) {
    if (source === "outbox" || source === "archived") {
      committed.set(eventId, { payloadSha256: valueSha256 as Buffer, committedIn: source });
    } else if (source === "superseded") {
      superseded.set(eventId, { eventId: newerEventId as string, aggregateVersion: newerVersion as string });
    } else (source === "recorded" ? recordedNow : recordedBefore).set(eventId, { eventType, valueSha256 });
  }
  const isCommitted = (event: ReadEvent) =>
    committed.get(event.eventId)?.payloadSha256.equals(event.valueSha256) === true;
  // A committed event neither recorded nor found nor superseded: another transaction recorded it after this
  // statement's snapshot was taken, which only READ COMMITTED lets through (REPEATABLE READ fails instead): its row
  // is read again.
  const unseen = records.filter(
    ({ event }) =>
      isCommitted(event) &&
      !recordedNow.has(event.eventId) &&
      !recordedBefore.has(event.eventId) &&
      !superseded.has(event.eventId),
  );
  if (unseen.length > 0) {
    const found = await processedEvents(
      client,
      consumer,
      unseen.map(({ event }) => event.eventId),
    );
    for (const [eventId, processed] of found) recordedBefore.set(eventId, processed);
  }
  // In their order, as if recorded one by one: a record after one that recorded its id finds that one processed.
  const effectGiven = new Set<string>();
  return records.map(({ event }): InboxVerdict => {
    const processed =
      recordedBefore.get(event.eventId) ??
      (effectGiven.has(event.eventId) ? recordedNow.get(event.eventId) : undefined);
    if (processed !== undefined) return reusedBy(event, processed) ?? { kind: "duplicate" };
    if (!isCommitted(event)) return notCommitted(committed.get(event.eventId));
    const newer = superseded.get(event.eventId);
    if (newer !== undefined) return { kind: "superseded", newer };
    const recorded = recordedNow.get(event.eventId);
    if (recorded === undefined) {
      throw new Error(`the inbox of ${consumer} neither recorded nor holds event ${event.eventId}`);
    }
    const reused = reusedBy(event, recorded);
    if (reused !== null) return reused;
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

/** The digest of a committed event's payload, and where it was read. */
interface CommittedDigest {
  payloadSha256: Buffer;
  committedIn: CommittedIn;
}

/** The refusal of a record that is not the committed event `committed` (undefined: none has its id). */
function notCommitted(committed: CommittedDigest | undefined): NotCommitted {
  if (committed === undefined) return { kind: "not-committed", found: "nothing" };
  return {
    kind: "not-committed",
    found: committed.committedIn === "outbox" ? "outbox-other-value" : "archived-other-value",
  };
}

type InboxRow = ProcessedEvent & {
  eventId: string;
  source: "recorded" | "found" | "superseded" | CommittedIn;
  /** Of a superseded record: the newest event of its aggregate applied since, and its version. */
  newerEventId: string | null;
  newerVersion: string | null;
};

/**
 * The payload digest of the committed event with the id `eventId` (an SQL expression), and where it was read: its
 * outbox row (one step down the outbox's unique event_id index), or, only when the outbox holds none, the digest
 * its archive kept (one step down outbox_archived_digests' primary key): the Limit stops the Append at its first
 * row. The payload column is `json`, which keeps the writer's text; both relays send it as UTF-8, and archiving
 * digests it the same way (audit/sql/archives.ts). Archiving deletes a row and keeps its digest in one
 * transaction, so the statement's snapshot sees the one or the other. The outbox row gives the event's aggregate
 * and its version there too; an archived digest none (archived events are older than all the outbox holds).
 */
const committedDigestSql = (eventId: string) => `
    SELECT sha256(convert_to(outbox.payload::text, 'UTF8')), 'outbox',
           outbox.aggregate_type, outbox.aggregate_id, outbox.aggregate_version
      FROM outbox
     WHERE outbox.event_id = ${eventId}
    UNION ALL
    SELECT archived.payload_sha256, 'archived', NULL, NULL, NULL
      FROM outbox_archived_digests AS archived
     WHERE archived.event_id = ${eventId}
    LIMIT 1`;

/**
 * The newest event of the aggregate of `event` (an SQL row with topic, aggregate_type, aggregate_id and
 * aggregate_version) that consumer $1 has applied from its topic, if it is later than `event`: one step down
 * consumer_inbox_aggregate_order. None for an event with no version (keyed by its own id, or archived).
 */
const appliedSinceSql = (event: string) => `
    SELECT applied.event_id, applied.aggregate_version
      FROM consumer_inbox AS applied
     WHERE applied.consumer = $1
       AND applied.topic = ${event}.topic
       AND applied.aggregate_type = ${event}.aggregate_type
       AND applied.aggregate_id = ${event}.aggregate_id
       AND applied.aggregate_version > ${event}.aggregate_version
     ORDER BY applied.aggregate_version DESC
     LIMIT 1`;

// Every record a consumer handles costs one of these: named statements, one text whatever the number of
// records (arrays, not a VALUES list), parsed and planned once per connection. The events recorded before come
// back from the same statement (its SELECT reads the snapshot from before the INSERT, by the primary key), so
// that telling a duplicate from a reused id costs no round trip of its own; so do the payload digests of the
// committed events with the records' event ids (committedDigestSql), and only a record whose value is its
// event's payload, byte for byte, is recorded: a record no transaction committed is refused in the same round
// trip. So is the check that no newer event of a record's aggregate was applied before it (appliedSinceSql), by
// this consumer or by a record before it among these; a superseded record is not recorded.
export const recordInInboxSql = `
  WITH record AS (
    SELECT *
      FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int[], $6::bigint[], $7::bytea[])
           WITH ORDINALITY
           AS record(event_id, event_type, topic, kafka_partition, kafka_offset, value_sha256, ordinality)
  ), committed AS (
    SELECT asked.event_id, digest.*
      FROM (SELECT DISTINCT event_id FROM record) AS asked
     CROSS JOIN LATERAL (${committedDigestSql("asked.event_id")}
     ) AS digest(payload_sha256, source, aggregate_type, aggregate_id, aggregate_version)
  ), event AS (
    SELECT record.*, committed.aggregate_type, committed.aggregate_id, committed.aggregate_version
      FROM record
      JOIN committed ON committed.event_id = record.event_id AND committed.payload_sha256 = record.value_sha256
  ), superseded AS (
    SELECT event.event_id, event.ordinality, newer.event_id AS newer_event_id,
           newer.aggregate_version AS newer_version
      FROM event
     CROSS JOIN LATERAL (
           (${appliedSinceSql("event")})
           UNION ALL
           (SELECT earlier.event_id, earlier.aggregate_version
              FROM event AS earlier
             WHERE earlier.ordinality < event.ordinality
               AND earlier.topic = event.topic
               AND earlier.aggregate_type = event.aggregate_type
               AND earlier.aggregate_id = event.aggregate_id
               AND earlier.aggregate_version > event.aggregate_version
             ORDER BY earlier.aggregate_version DESC
             LIMIT 1)
           ORDER BY aggregate_version DESC
           LIMIT 1
     ) AS newer
  ), recorded AS (
    INSERT INTO consumer_inbox
           (consumer, event_id, event_type, topic, kafka_partition, kafka_offset, value_sha256,
            aggregate_type, aggregate_id, aggregate_version)
    SELECT $1, event.event_id, event.event_type, event.topic, event.kafka_partition, event.kafka_offset,
           event.value_sha256, event.aggregate_type, event.aggregate_id, event.aggregate_version
      FROM event
     WHERE event.ordinality NOT IN (SELECT ordinality FROM superseded)
    ON CONFLICT DO NOTHING
    RETURNING event_id, event_type, value_sha256
  )
  SELECT event_id::text AS "eventId", event_type AS "eventType", value_sha256 AS "valueSha256",
         'recorded' AS "source", NULL AS "newerEventId", NULL AS "newerVersion"
    FROM recorded
  UNION ALL
  SELECT event_id::text, event_type, value_sha256, 'found', NULL, NULL
    FROM consumer_inbox
   WHERE consumer = $1 AND event_id = ANY($2::uuid[])
  UNION ALL
  SELECT event_id::text, NULL, payload_sha256, source, NULL, NULL
    FROM committed
  UNION ALL
  SELECT event_id::text, NULL, NULL, 'superseded', newer_event_id::text, newer_version::text
    FROM superseded`;

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

/**
 * What recording the event would make of it, without recording it: an external effect's consumer asks before its
 * effect (the effect cannot commit with the inbox row) and records the event after it. One statement: the inbox's
 * row for the event, if any, the payload digest of the committed event with its id (committedDigestSql), and the
 * newest event of its aggregate the consumer has applied since from `topic`, the record's (appliedSinceSql).
 */
export async function verdictBeforeEffect(
  db: Database,
  consumer: string,
  event: ReadEvent,
  topic: string,
): Promise<InboxVerdict> {
  const { rows } = await db.$client.query<{
    eventType: string | null;
    valueSha256: Buffer | null;
    processed: boolean;
    payloadSha256: Buffer | null;
    committedIn: CommittedIn | null;
    newerEventId: string | null;
    newerVersion: string | null;
  }>({
    name: "consumer-inbox.verdict-before-effect.v3",
    text: verdictBeforeEffectSql,
    values: [consumer, event.eventId, topic],
  });
  const [row] = rows;
  if (row?.processed && row.eventType !== null) {
    return (
      reusedBy(event, { eventType: row.eventType, valueSha256: row.valueSha256 }) ?? { kind: "duplicate" }
    );
  }
  const committed =
    row?.payloadSha256 && row.committedIn
      ? { payloadSha256: row.payloadSha256, committedIn: row.committedIn }
      : undefined;
  if (committed?.payloadSha256.equals(event.valueSha256) !== true) return notCommitted(committed);
  if (row?.newerEventId && row.newerVersion) {
    return { kind: "superseded", newer: { eventId: row.newerEventId, aggregateVersion: row.newerVersion } };
  }
  return { kind: "new" };
}

// Named and planned once per connection too: the inbox's row by its primary key, and the committed event's digest.
export const verdictBeforeEffectSql = `
  SELECT inbox.event_type AS "eventType", inbox.value_sha256 AS "valueSha256",
         inbox.event_id IS NOT NULL AS "processed",
         committed.payload_sha256 AS "payloadSha256", committed.source AS "committedIn",
         newer.event_id::text AS "newerEventId", newer.aggregate_version::text AS "newerVersion"
    FROM (SELECT) AS one
    LEFT JOIN consumer_inbox AS inbox ON inbox.consumer = $1 AND inbox.event_id = $2::uuid
    LEFT JOIN LATERAL (${committedDigestSql("$2::uuid")}
    ) AS committed(payload_sha256, source, aggregate_type, aggregate_id, aggregate_version) ON true
    LEFT JOIN LATERAL (SELECT $3::text AS topic, committed.*) AS asked ON true
    LEFT JOIN LATERAL (${appliedSinceSql("asked")}
    ) AS newer ON true`;

/**
 * Why a record that is poison for another reason (its data, its sealing, its key or headers) is not a committed
 * event either, or null when it is one: its value is the payload of the outbox row with its event id, or the
 * payload whose digest its archive kept (committedDigestSql). One step down an index, asked only of poison records
 * whose envelope could be read.
 */
export async function notCommittedRecord(
  db: Database,
  eventId: string,
  valueSha256: Buffer,
): Promise<NotCommitted | null> {
  const [verdict] = await notCommittedRecords(db.$client, [{ eventId, valueSha256 }]);
  return verdict ?? null;
}

/**
 * notCommittedRecord for many records at once, in one statement: for each, why it is not a committed event, or
 * null when it is one. A record that names no event id (`eventId` null) is none.
 */
export async function notCommittedRecords(
  client: pg.ClientBase | pg.Pool,
  records: ReadonlyArray<{ eventId: string | null; valueSha256: Buffer }>,
): Promise<Array<NotCommitted | null>> {
  if (records.length === 0) return [];
  const { rows } = await client.query<{ payloadSha256: Buffer | null; committedIn: CommittedIn | null }>({
    name: "consumer-inbox.committed-digests.v1",
    text: `SELECT committed.payload_sha256 AS "payloadSha256", committed.source AS "committedIn"
             FROM unnest($1::uuid[]) WITH ORDINALITY AS asked(event_id, ordinality)
             LEFT JOIN LATERAL (${committedDigestSql("asked.event_id")}
             ) AS committed(payload_sha256, source, aggregate_type, aggregate_id, aggregate_version) ON true
            ORDER BY asked.ordinality`,
    values: [records.map(({ eventId }) => eventId)],
  });
  return records.map(({ valueSha256 }, index) => {
    const { payloadSha256, committedIn } = rows[index] ?? { payloadSha256: null, committedIn: null };
    if (payloadSha256 === null || committedIn === null) return notCommitted(undefined);
    return payloadSha256.equals(valueSha256) ? null : notCommitted({ payloadSha256, committedIn });
  });
}

/** What each kind of NotCommitted says of a record's event (logs and dead letters name its id and type before). */
export const NOT_COMMITTED_BECAUSE: Record<NotCommitted["found"], string> = {
  nothing: "is not a committed event: neither the outbox nor the archived events hold an event with this id",
  "outbox-other-value": "is not the committed event: the outbox holds this id with another value",
  "archived-other-value": "is not the committed event: this id was archived with another value",
};

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

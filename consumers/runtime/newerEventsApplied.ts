// Whether a consumer has already applied an event of an aggregate newer than a given one, from the same topic:
// the outbox orders each aggregate's events (tx_id, position), the consumer's inbox holds those it has applied.
// An event the outbox does not hold (archived: archives take the oldest history) comes before all it holds. A
// patient's events on two topics (patient-events, ai-events) have no order between them: they are not compared. Asked when a dead letter
// is re-driven (consumers/deadLetters/redriveRule.ts) and when a consumer reaches a re-driven record.
import type pg from "pg";

export interface AppliedQuestion {
  /** The event asked about; null when its record names none (it then comes before the whole outbox). */
  eventId: string | null;
  /** The consumer (its inbox name) that would apply it. */
  consumer: string;
  /** The topic it is (or would be) read from: only that topic's events are compared with it. */
  topic: string;
  /** Its aggregate as the catalog and the record's key name it, for an event the outbox does not hold. */
  aggregateType: string | null;
  aggregateId: string | null;
}

export interface NewerEvent {
  eventId: string;
  eventType: string;
  /** Its outbox position. */
  position: string;
  aggregateType: string;
  aggregateId: string;
}

export interface PlaceInHistory {
  /** When the outbox row of the event was written; null when the outbox does not hold it. */
  createdAt: Date | null;
  /** The newest event of the same aggregate, later than it, that the consumer has applied; null if none. */
  newerApplied: NewerEvent | null;
  /**
   * The consumer's inbox holds the event itself: a copy sent again is dropped there as a duplicate (a re-drive
   * stopped after its sends, before it moved its cursor, leaves its letters applied and still parked).
   */
  alreadyApplied: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** One answer per question, in their order, from one statement. */
export async function newerEventsApplied(
  client: pg.Pool | pg.ClientBase,
  questions: readonly AppliedQuestion[],
): Promise<PlaceInHistory[]> {
  if (questions.length === 0) return [];
  const column = <V>(pick: (question: AppliedQuestion) => V) => questions.map(pick);
  const { rows } = await client.query<{
    createdAt: Date | null;
    alreadyApplied: boolean;
    newerEventId: string | null;
    newerEventType: string | null;
    newerPosition: string | null;
    newerAggregateType: string | null;
    newerAggregateId: string | null;
  }>({
    text: newerEventsAppliedSql,
    values: [
      // A header's id that is no UUID names no outbox row (and would fail the cast).
      column(({ eventId }) => (eventId !== null && UUID.test(eventId) ? eventId : null)),
      column(({ consumer }) => consumer),
      column(({ topic }) => topic),
      column(({ aggregateType }) => aggregateType),
      // A key that holds a NUL (a forged record's, parked as wrong-key) names no aggregate: Postgres text cannot
      // hold one, and the whole statement would fail, taking the re-drive of every other dead letter with it.
      column(({ aggregateId }) => (aggregateId?.includes("\u0000") ? null : aggregateId)),
    ],
  });
  return rows.map((row) => ({
    createdAt: row.createdAt,
    alreadyApplied: row.alreadyApplied,
    newerApplied:
      row.newerEventId === null
        ? null
        : {
            eventId: row.newerEventId,
            eventType: row.newerEventType as string,
            position: row.newerPosition as string,
            aggregateType: row.newerAggregateType as string,
            aggregateId: row.newerAggregateId as string,
          },
  }));
}

// The aggregate's events are read newest first off outbox_aggregate_history, each looked up in the inbox by its
// primary key, until one the consumer has applied.
const newerEventsAppliedSql = `
  SELECT asked.created_at AS "createdAt",
         EXISTS (SELECT FROM consumer_inbox own
                  WHERE own.consumer = question.consumer AND own.event_id = question.event_id) AS "alreadyApplied",
         newer.event_id::text AS "newerEventId", newer.event_type AS "newerEventType",
         newer.position::text AS "newerPosition",
         newer.aggregate_type AS "newerAggregateType", newer.aggregate_id AS "newerAggregateId"
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
         WITH ORDINALITY AS question(event_id, consumer, topic, aggregate_type, aggregate_id, ordinality)
    LEFT JOIN outbox asked ON asked.event_id = question.event_id
    LEFT JOIN LATERAL (
      SELECT later.event_id, later.event_type, later.position, later.aggregate_type, later.aggregate_id
        FROM outbox later
        JOIN consumer_inbox applied ON applied.consumer = question.consumer AND applied.event_id = later.event_id
       WHERE later.topic = question.topic
         AND later.aggregate_type = coalesce(asked.aggregate_type, question.aggregate_type)
         AND later.aggregate_id = coalesce(asked.aggregate_id, question.aggregate_id)
         AND (asked.event_id IS NULL OR (later.tx_id, later.position) > (asked.tx_id, asked.position))
       ORDER BY later.tx_id DESC, later.position DESC
       LIMIT 1
    ) newer ON true
   ORDER BY question.ordinality`;

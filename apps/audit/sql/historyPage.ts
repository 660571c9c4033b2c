// The auditors' history query: the outbox rows that match a filter, after a cursor, in (tx_id, position)
// order, a page at a time. A patient, a user, a request, an aggregate and an event type each have an index
// that serves them as a range in that order; the other conditions are checked on the rows read.
// ORDER BY names the table's columns: a bare `position` would mean the text column of the SELECT list.
import type pg from "pg";
import { epochMicrosecondsSql, storedInstantText } from "../../../db/storedInstant.ts";
import { type Instant, microsecondBound } from "../../../events/instant.ts";
import { HttpProblem } from "../../http/problem.ts";

export interface HistoryFilter {
  patientId?: string;
  aggregateType?: string;
  aggregateId?: string;
  /**
   * The aggregate id as the query typed it, when that is a UUID in upper case: a login's username is kept as
   * typed, so its events are found under both spellings.
   */
  aggregateIdAsTyped?: string;
  /** The acting user: the envelope's `metadata.userId`. */
  userId?: string;
  eventType?: string;
  correlationId?: string;
  /** `created_at >= from`. */
  from?: Instant;
  /** `created_at < to`. */
  to?: Instant;
}

/** A place in the history: everything at or before it has been read. */
export interface HistoryKey {
  txId: string;
  position: string;
}

export const START_OF_HISTORY: HistoryKey = { txId: "0", position: "0" };

/**
 * Whether a cursor names a place this history has: the start, a row of the outbox (a page's last), or a place
 * at or before the newest archive's cut (a row archived since). A cursor from another database, or made up,
 * would otherwise read as "nothing more yet" for ever.
 */
export async function historyHolds(client: pg.Pool | pg.ClientBase, key: HistoryKey): Promise<boolean> {
  if (key.txId === START_OF_HISTORY.txId && key.position === START_OF_HISTORY.position) return true;
  const result = await client.query<{ held: boolean }>({
    name: "history_holds",
    text: `SELECT EXISTS (SELECT FROM outbox WHERE position = $2::bigint AND tx_id = $1::xid8)
               OR EXISTS (SELECT FROM outbox_archives
                           WHERE (up_to_tx_id, up_to_position) >= ($1::xid8, $2::bigint)) AS held`,
    values: [key.txId, key.position],
  });
  return result.rows[0]?.held === true;
}

export interface HistoryEvent extends HistoryKey {
  eventId: string;
  eventType: string;
  aggregateType: string;
  aggregateId: string;
  aggregateVersion: number | null;
  patientId: string | null;
  correlationId: string;
  userId: string | null;
  /** created_at to the microsecond it holds, as answered (db/storedInstant.ts): a Date would cut it. */
  createdAt: string;
  /** The envelope JSON exactly as stored (and sent to Kafka). */
  envelope: string;
}

/** A row of historyColumns: an event with its created_at as microseconds since the epoch. */
export type HistoryEventRow = Omit<HistoryEvent, "createdAt"> & { createdAtMicroseconds: string };

/** The event a row of historyColumns holds. */
export function historyEventOf({ createdAtMicroseconds, ...row }: HistoryEventRow): HistoryEvent {
  const createdAt = storedInstantText(createdAtMicroseconds);
  if (createdAt === null) throw new UnanswerableHistoryRow(row);
  return { ...row, createdAt };
}

/**
 * A row whose created_at no answer can name (`infinity`, a year past 9999): written by hand, since the write path
 * stamps the commit's clock. Refused whole rather than answered with another time; the verification names the row
 * as its broken link, and filters (from, to, an aggregate) read the history around it.
 */
export class UnanswerableHistoryRow extends HttpProblem {
  override name = "UnanswerableHistoryRow";
  constructor({ position, eventId }: HistoryKey & { eventId: string }) {
    super(
      500,
      "Internal Server Error",
      `The history's row at position ${position} (event ${eventId}) holds a created_at that is no time the write path stamps: it was changed outside it. GET /audit/verify names it; filters (from, to, an aggregate) read around it.`,
    );
  }
}

export const historyColumns = `outbox.tx_id::text AS "txId", outbox.position::text AS "position",
  outbox.event_id::text AS "eventId", outbox.event_type AS "eventType",
  outbox.aggregate_type AS "aggregateType", outbox.aggregate_id AS "aggregateId",
  outbox.aggregate_version::float8 AS "aggregateVersion", outbox.patient_id::text AS "patientId",
  outbox.correlation_id::text AS "correlationId",
  (outbox.payload::jsonb -> 'metadata' ->> 'userId') AS "userId",
  ${epochMicrosecondsSql("outbox.created_at")} AS "createdAtMicroseconds", outbox.payload::text AS "envelope"`;

/**
 * An event's place in the history, its type, whose patient it is about and its envelope's size: what a page is
 * read by.
 */
export interface HistoryPlace extends HistoryKey {
  eventType: string;
  patientId: string | null;
  /** The envelope's length in bytes. */
  bytes: number;
}

const placeColumns = `outbox.tx_id::text AS "txId", outbox.position::text AS "position",
  outbox.event_type AS "eventType", outbox.patient_id::text AS "patientId",
  octet_length(outbox.payload::text) AS "bytes"`;

/**
 * `horizon`: read only rows of transactions below it. `"snapshot"` is the oldest transaction still running
 * (as the relay reads): every row at or before the returned cursor is then final, so a later page never
 * finds a row behind it, however transactions commit. An export fixes one horizon for all its pages, so
 * that it is one cut of the history and ends.
 */
export function historyPageQuery(
  filter: HistoryFilter,
  after: HistoryKey,
  limit: number,
  horizon: "snapshot" | { below: string } = "snapshot",
  { through, places = false }: { through?: HistoryKey; places?: boolean } = {},
): { text: string; values: unknown[] } {
  const values: unknown[] = [after.txId, after.position];
  const param = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  const conditions = ["(outbox.tx_id, outbox.position) > ($1::xid8, $2::bigint)"];
  conditions.push(
    horizon === "snapshot"
      ? "outbox.tx_id < pg_snapshot_xmin(pg_current_snapshot())"
      : `outbox.tx_id < ${param(horizon.below)}::xid8`,
  );
  if (through !== undefined)
    conditions.push(
      `(outbox.tx_id, outbox.position) <= (${param(through.txId)}::xid8, ${param(through.position)}::bigint)`,
    );
  if (filter.patientId !== undefined) conditions.push(`outbox.patient_id = ${param(filter.patientId)}::uuid`);
  if (filter.aggregateType !== undefined)
    conditions.push(`outbox.aggregate_type = ${param(filter.aggregateType)}`);
  if (filter.aggregateId !== undefined && filter.aggregateIdAsTyped !== undefined)
    conditions.push(
      `outbox.aggregate_id IN (${param(filter.aggregateId)}, ${param(filter.aggregateIdAsTyped)})`,
    );
  else if (filter.aggregateId !== undefined)
    conditions.push(`outbox.aggregate_id = ${param(filter.aggregateId)}`);
  if (filter.userId !== undefined)
    // The exact expression of the outbox_user_history index, so that the planner can use it.
    conditions.push(`(outbox.payload::jsonb -> 'metadata' ->> 'userId') = ${param(filter.userId)}`);
  if (filter.eventType !== undefined) conditions.push(`outbox.event_type = ${param(filter.eventType)}`);
  if (filter.correlationId !== undefined)
    conditions.push(`outbox.correlation_id = ${param(filter.correlationId)}::uuid`);
  // created_at holds microseconds: a bound rounded up to one selects what the instant itself would.
  if (filter.from !== undefined)
    conditions.push(`outbox.created_at >= ${param(microsecondBound(filter.from, "up"))}::timestamptz`);
  if (filter.to !== undefined)
    conditions.push(`outbox.created_at < ${param(microsecondBound(filter.to, "up"))}::timestamptz`);
  const text = `SELECT ${places ? placeColumns : historyColumns} FROM outbox
   WHERE ${conditions.join("\n     AND ")}
   ORDER BY outbox.tx_id, outbox.position
   LIMIT ${param(limit)}`;
  return { text, values };
}

/**
 * True when the filter names a patient, a user, a request, an aggregate or an event type, or nothing at all
 * (outbox_relay_order), with no time range: its index holds its rows in (tx_id, position) order, so a page is
 * the next rows of that range. The rest is left to the planner: a day of a busy event type is a few rows of
 * outbox_event_type_time, sorted; an aggregate type alone has no index in that order.
 */
export function servedInHistoryOrder(filter: HistoryFilter): boolean {
  if (filter.from !== undefined || filter.to !== undefined) return false;
  const { aggregateType, aggregateId } = filter;
  const ownIndex =
    filter.patientId !== undefined ||
    filter.userId !== undefined ||
    filter.correlationId !== undefined ||
    filter.eventType !== undefined ||
    (aggregateType !== undefined && aggregateId !== undefined);
  return ownIndex || (aggregateType === undefined && aggregateId === undefined);
}

/**
 * Makes the page query of a filter served in history order read its index range in order, whatever the
 * statistics say; inside a transaction (SET LOCAL). PostgreSQL 18's skip scan lets another index holding
 * tx_id (event_type, tx_id, position) serve the cursor's range unordered, and when the statistics expect few
 * rows after the cursor the planner would fetch them all and Sort. With sorting disabled, the only plans left
 * read an index in order, and the filter's own range is by far the cheapest of them.
 */
export async function prepareHistoryPage(client: pg.ClientBase, filter: HistoryFilter): Promise<void> {
  if (servedInHistoryOrder(filter)) await client.query("SET LOCAL enable_sort = off");
}

/** The places of the events a page holds (historyPageQuery's matches), without the events: a few bytes each. */
export async function historyPlaces(
  pool: pg.Pool,
  filter: HistoryFilter,
  after: HistoryKey,
  limit: number,
  horizon: "snapshot" | { below: string } = "snapshot",
): Promise<HistoryPlace[]> {
  const query = historyPageQuery(filter, after, limit, horizon, { places: true });
  return runHistoryQuery<HistoryPlace>(pool, filter, query);
}

/** Envelope bytes read at once while a page is answered or exported: what one request holds in memory. */
export const HISTORY_CHUNK_BYTES = 1024 * 1024;

/**
 * The events at `places` (the matches of `filter` right after `after`, as historyPlaces found them), read in
 * chunks of at most `chunkBytes` of envelopes (one event at least), so that a page of a thousand large events
 * is never in memory at once. The places are final (historyPageQuery's horizon), so each chunk reads exactly them;
 * one that does not (its rows archived meanwhile) throws rather than be answered short.
 */
export async function* historyEventsAt(
  pool: pg.Pool,
  filter: HistoryFilter,
  after: HistoryKey,
  places: readonly HistoryPlace[],
  chunkBytes = HISTORY_CHUNK_BYTES,
): AsyncGenerator<HistoryEvent[], void, undefined> {
  let from = after;
  for (let start = 0; start < places.length; ) {
    let end = start + 1;
    let bytes = (places[start] as HistoryPlace).bytes;
    while (end < places.length && bytes + (places[end] as HistoryPlace).bytes <= chunkBytes) {
      bytes += (places[end] as HistoryPlace).bytes;
      end++;
    }
    const through = places[end - 1] as HistoryPlace;
    const query = historyPageQuery(filter, from, end - start, "snapshot", { through });
    const events = (await runHistoryQuery<HistoryEventRow>(pool, filter, query)).map(historyEventOf);
    const expected = places.slice(start, end);
    if (
      events.length !== expected.length ||
      events.some((event, i) => event.position !== expected[i]?.position || event.txId !== expected[i]?.txId)
    ) {
      throw new Error(
        `the history changed while a page was read: ${events.length} of ${expected.length} events after position ${from.position}`,
      );
    }
    yield events;
    from = through;
    start = end;
  }
}

async function runHistoryQuery<Row extends pg.QueryResultRow>(
  pool: pg.Pool,
  filter: HistoryFilter,
  query: { text: string; values: unknown[] },
): Promise<Row[]> {
  if (!servedInHistoryOrder(filter)) return (await pool.query<Row>(query)).rows;
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await prepareHistoryPage(client, filter);
    const result = await client.query<Row>(query);
    await client.query("COMMIT");
    return result.rows;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** The oldest transaction still running: rows of transactions below it are final. */
export async function historyHorizon(pool: pg.Pool): Promise<string> {
  const result = await pool.query<{ horizon: string }>(
    `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon`,
  );
  return (result.rows[0] as { horizon: string }).horizon;
}

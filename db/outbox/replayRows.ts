// The replay's read (`npm run replay`): the outbox rows a filter selects, after a cursor and up to a bound, in
// the relay's (tx_id, position) order, a page at a time, read as the relay reads them (OutboxRecord).
import type { ClientBase } from "pg";
import { type OutboxRecord, outboxRecordColumns } from "./pendingOutboxBatch.ts";
import type { RelayCursor } from "./relayCheckpoint.ts";

/** Which rows a replay republishes; the filters combine (AND). */
export interface ReplayFilter {
  /** The topic the rows were published to. */
  topic?: string;
  /** Outbox positions, both bounds included. */
  fromPosition?: string;
  toPosition?: string;
  /** `created_at >= since`. */
  since?: Date;
  /** `created_at < until`. */
  until?: Date;
  /** One aggregate: both or neither (the outbox_aggregate_history index holds them together). */
  aggregate?: { type: string; id: string };
  eventType?: string;
  correlationId?: string;
}

/**
 * The WHERE clause of a replay, its parameters numbered after `values`: the cursor range `(after, through]`,
 * then the filters. An aggregate, an event type and a correlation id each have an index ending in (tx_id,
 * position) that serves the range in order; the other conditions are checked on the rows read.
 */
export function replayConditions(
  filter: ReplayFilter,
  after: RelayCursor,
  through: RelayCursor,
  values: unknown[],
): string {
  const param = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  const conditions = [
    `(outbox.tx_id, outbox.position) > (${param(after.txId)}::xid8, ${param(after.position)}::bigint)`,
    `(outbox.tx_id, outbox.position) <= (${param(through.txId)}::xid8, ${param(through.position)}::bigint)`,
  ];
  if (filter.topic !== undefined) conditions.push(`outbox.topic = ${param(filter.topic)}`);
  if (filter.fromPosition !== undefined)
    conditions.push(`outbox.position >= ${param(filter.fromPosition)}::bigint`);
  if (filter.toPosition !== undefined)
    conditions.push(`outbox.position <= ${param(filter.toPosition)}::bigint`);
  if (filter.since !== undefined) conditions.push(`outbox.created_at >= ${param(filter.since)}`);
  if (filter.until !== undefined) conditions.push(`outbox.created_at < ${param(filter.until)}`);
  if (filter.aggregate !== undefined)
    conditions.push(
      `outbox.aggregate_type = ${param(filter.aggregate.type)}`,
      `outbox.aggregate_id = ${param(filter.aggregate.id)}`,
    );
  if (filter.eventType !== undefined) conditions.push(`outbox.event_type = ${param(filter.eventType)}`);
  if (filter.correlationId !== undefined)
    conditions.push(`outbox.correlation_id = ${param(filter.correlationId)}::uuid`);
  return conditions.join("\n     AND ");
}

/** ORDER BY names the table's columns: a bare `position` would mean the text column of the SELECT list. */
export function replayRowsQuery(
  filter: ReplayFilter,
  after: RelayCursor,
  through: RelayCursor,
  limit: number,
): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const where = replayConditions(filter, after, through, values);
  values.push(limit);
  return {
    text: `SELECT ${outboxRecordColumns} FROM outbox
   WHERE ${where}
   ORDER BY outbox.tx_id, outbox.position
   LIMIT $${values.length}`,
    values,
  };
}

/**
 * The next page. Sorting is disabled for the page (as for the relay's and the auditors' queries): the only
 * plans left read an index in (tx_id, position) order, the filter's own when it has one, else the relay's,
 * so a page costs the rows it walks from the cursor and the whole replay walks its range once, never sorting
 * what is left of it for every page (a time range's BRIN index would otherwise be read and sorted each time).
 */
export async function replayRows(
  client: ClientBase,
  filter: ReplayFilter,
  after: RelayCursor,
  through: RelayCursor,
  limit: number,
): Promise<OutboxRecord[]> {
  await client.query("BEGIN");
  try {
    await client.query("SET LOCAL enable_sort = off");
    const result = await client.query<OutboxRecord>(replayRowsQuery(filter, after, through, limit));
    await client.query("COMMIT");
    return result.rows;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

// The watch's SQL: record an observation under its rule and principal, find a window that now holds more
// than the rule allows, and remember the alert so the same pattern is reported once per window.
import { sql } from "drizzle-orm";
import { connectionOf, type WriteTransaction } from "../../db/client.ts";

export interface ObservationRow {
  rule: string;
  subject: string;
  eventId: string;
  occurredAt: Date;
  counted: string;
}

/**
 * Records the observation; null when this event was observed before (a redelivery), else the end of the
 * last alert's window for this rule and principal. The upsert comes first: two transactions observing the
 * same principal conflict on its row, and under REPEATABLE READ the later one fails and runs again, seeing
 * the earlier one's observation (writeTransaction retries it).
 */
export async function recordObservation(
  tx: WriteTransaction,
  row: ObservationRow,
): Promise<{ alertedUntil: Date | null } | null> {
  // Every audit event the watch reads runs these two and the span's count (breachingWindow): named statements,
  // parsed and planned once per connection.
  const client = connectionOf(tx);
  const subject = await client.query<{ alertedUntil: Date | null }>({
    name: "compliance-watch.observe-subject.v1",
    text: `INSERT INTO compliance_watch_subjects (rule, subject, observations) VALUES ($1, $2, 1)
           ON CONFLICT (rule, subject) DO UPDATE SET observations = compliance_watch_subjects.observations + 1
           RETURNING alerted_until AS "alertedUntil"`,
    values: [row.rule, row.subject],
  });
  const inserted = await client.query({
    name: "compliance-watch.observe.v1",
    text: `INSERT INTO compliance_watch_observations (rule, subject, event_id, occurred_at, counted)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    values: [row.rule, row.subject, row.eventId, row.occurredAt, row.counted],
  });
  if (inserted.rowCount === 0) return null;
  return { alertedUntil: subject.rows[0]?.alertedUntil ?? null };
}

export interface Breach {
  windowStart: Date;
  windowEnd: Date;
  observed: number;
  /** The first event of each distinct value counted, in time order (at most 1,000). */
  evidenceEventIds: string[];
}

/**
 * The earliest window of `windowSeconds` that contains the instant `at`, starts at an observation no earlier
 * than `notBefore` (the last alert's window end), and holds more than `threshold` distinct counted values.
 * Any window that breaches the rule can be moved to start at its first observation, so those are the only
 * starts to try; the windows that do not contain `at` were tried when their own observations came in.
 *
 * Those windows all lie in the span from `at` minus a window to `at` plus one. When the whole span holds no
 * more than `threshold` distinct values no window in it can (nearly every event: one count, no rows fetched);
 * otherwise the span's observations are read once, in time order, and the windows are slid over them with a
 * count per value, so an event costs time linear in its principal's observations in the span. (Counting each
 * start's window afresh in SQL cost their square: half a second per event for a clinician who reads the same
 * forty patients a thousand times an hour.)
 */
export async function breachingWindow(
  tx: WriteTransaction,
  query: {
    rule: string;
    subject: string;
    at: Date;
    windowSeconds: number;
    threshold: number;
    notBefore: Date | null;
  },
): Promise<Breach | null> {
  const at = query.at.toISOString();
  const window = sql`make_interval(secs => ${query.windowSeconds})`;
  const notBefore = query.notBefore?.toISOString() ?? null;
  const span = sql`rule = ${query.rule} AND subject = ${query.subject}
    AND occurred_at > ${at}::timestamptz - ${window} AND occurred_at < ${at}::timestamptz + ${window}
    AND (${notBefore}::timestamptz IS NULL OR occurred_at >= ${notBefore}::timestamptz)`;
  const [inSpan] = (
    await connectionOf(tx).query<{ counted: string }>({
      name: "compliance-watch.span-count.v1",
      text: `SELECT count(DISTINCT counted) AS counted FROM compliance_watch_observations
              WHERE rule = $1 AND subject = $2
                AND occurred_at > $3::timestamptz - make_interval(secs => $4)
                AND occurred_at < $3::timestamptz + make_interval(secs => $4)
                AND ($5::timestamptz IS NULL OR occurred_at >= $5::timestamptz)`,
      values: [query.rule, query.subject, at, query.windowSeconds, notBefore],
    })
  ).rows;
  if (Number(inSpan?.counted ?? 0) <= query.threshold) return null;

  // Microseconds since the epoch: Postgres's own precision, exact in a double until the year 2255.
  const observations = (
    await tx.execute<{ micros: string; counted: string }>(sql`
      SELECT (extract(epoch FROM occurred_at) * 1000000)::bigint AS micros, counted
      FROM compliance_watch_observations WHERE ${span} ORDER BY occurred_at`)
  ).rows.map((row) => ({ micros: Number(row.micros), counted: row.counted }));
  const found = firstBreach(
    observations,
    query.at.getTime() * 1000,
    query.windowSeconds * 1_000_000,
    query.threshold,
  );
  if (!found) return null;
  const start = new Date(Math.floor(found.startMicros / 1000));
  const evidence = await tx.execute<{ event_id: string; occurred_at: string }>(sql`
    SELECT event_id, occurred_at FROM (
      SELECT DISTINCT ON (counted) event_id, occurred_at FROM compliance_watch_observations
      WHERE rule = ${query.rule} AND subject = ${query.subject}
        AND occurred_at >= ${start.toISOString()}::timestamptz
        AND occurred_at < ${start.toISOString()}::timestamptz + ${window}
      ORDER BY counted, occurred_at, event_id
    ) firsts
    ORDER BY occurred_at, event_id
    LIMIT 1000`);
  const last = evidence.rows.at(-1);
  return {
    windowStart: start,
    windowEnd: new Date(last?.occurred_at ?? start),
    observed: found.observed,
    evidenceEventIds: evidence.rows.map((row) => row.event_id),
  };
}

/** Remembers the alert: no other for this rule and principal from a window starting before `until`. */
export async function recordAlert(
  tx: WriteTransaction,
  alert: { eventId: string; rule: string; subject: string; breach: Breach; until: Date },
): Promise<void> {
  await tx.execute(sql`
    UPDATE compliance_watch_subjects SET alerted_until = ${alert.until.toISOString()}::timestamptz
    WHERE rule = ${alert.rule} AND subject = ${alert.subject}`);
  await tx.execute(sql`
    INSERT INTO compliance_watch_alerts (event_id, rule, subject, window_start, window_end)
    VALUES (${alert.eventId}, ${alert.rule}, ${alert.subject},
            ${alert.breach.windowStart.toISOString()}::timestamptz, ${alert.breach.windowEnd.toISOString()}::timestamptz)`);
}

/** Alerts raised so far, by rule (what compliance_alerts_total reports). */
export async function alertCounts(tx: { execute: WriteTransaction["execute"] }) {
  const result = await tx.execute<{ rule: string; alerts: string }>(
    sql`SELECT rule, count(*) AS alerts FROM compliance_watch_alerts GROUP BY rule`,
  );
  return result.rows.map((row) => ({ rule: row.rule, alerts: Number(row.alerts) }));
}

/**
 * Forgets what no window can count any more: observations more than two windows older than the newest one
 * (the margin covers audit events that arrive late from a lagging partition), and the principals left with
 * neither an observation nor an alert window still open. Measured from the newest observation, not from
 * now: a watch catching up on a day's backlog still needs the observations its backlog's windows reach.
 * The inbox, not these rows, keeps a redelivered event from being counted twice.
 */
export async function forgetPastObservations(
  tx: Pick<WriteTransaction, "execute">,
  windowSeconds: number,
): Promise<number> {
  const window = sql`make_interval(secs => ${windowSeconds})`;
  const removed = await tx.execute(sql`
    WITH cutoff AS (
      SELECT max(occurred_at) - 2 * ${window} AS before FROM compliance_watch_observations
    )
    DELETE FROM compliance_watch_observations o USING cutoff WHERE o.occurred_at < cutoff.before`);
  await tx.execute(sql`
    DELETE FROM compliance_watch_subjects s
    WHERE (s.alerted_until IS NULL OR s.alerted_until < now() - ${window})
      AND NOT EXISTS (
        SELECT 1 FROM compliance_watch_observations o WHERE o.rule = s.rule AND o.subject = s.subject)`);
  return removed.rowCount ?? 0;
}

/**
 * Slides the window over observations in time order: each distinct instant no later than `atMicros` is a
 * start, and the first start whose window [start, start + window) holds more than `threshold` distinct values
 * is the breach. Each observation enters the window at most once and leaves it at most once.
 */
function firstBreach(
  observations: ReadonlyArray<{ micros: number; counted: string }>,
  atMicros: number,
  windowMicros: number,
  threshold: number,
): { startMicros: number; observed: number } | null {
  const inWindow = new Map<string, number>();
  const at = (index: number) => observations[index] as { micros: number; counted: string };
  // The window holds observations[left, entered).
  let left = 0;
  let entered = 0;
  for (let first = 0; first < observations.length; first++) {
    const start = at(first).micros;
    if (start > atMicros) break;
    if (first > 0 && at(first - 1).micros === start) continue;
    for (; left < first; left++) {
      if (left >= entered) continue;
      const { counted } = at(left);
      const count = (inWindow.get(counted) ?? 0) - 1;
      if (count === 0) inWindow.delete(counted);
      else inWindow.set(counted, count);
    }
    entered = Math.max(entered, first);
    for (; entered < observations.length && at(entered).micros < start + windowMicros; entered++) {
      const { counted } = at(entered);
      inWindow.set(counted, (inWindow.get(counted) ?? 0) + 1);
    }
    if (inWindow.size > threshold) return { startMicros: start, observed: inWindow.size };
  }
  return null;
}

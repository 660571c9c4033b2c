// Republishes part of the outbox history (`npm run replay`): plans the replay (what it selects, per topic,
// and whether the rule of replayRule.ts lets it run), records it as an audit.history.replayed event, then
// sends the rows in the relay's (tx_id, position) order through the relay's own publishBatch, so that each
// record is the one the relay sent: same key, value bytes and headers.
import { randomUUID } from "node:crypto";
import type { ClientBase } from "pg";
import type { Progress } from "../../cli/progress.ts";
import { type Database, writeTransaction } from "../../db/client.ts";
import { erasedLoginPseudonymOf } from "../../db/erasedLogins.ts";
import { appendEvents, type EventContext } from "../../db/outbox/appendEvents.ts";
import { type ArchivedHistory, archivedThrough } from "../../db/outbox/archivedThrough.ts";
import { newestPosition } from "../../db/outbox/newestPosition.ts";
import type { OutboxRecord } from "../../db/outbox/pendingOutboxBatch.ts";
import { loadRelayCheckpoint, type RelayCursor, START_OF_HISTORY } from "../../db/outbox/relayCheckpoint.ts";
import { readRelayMode } from "../../db/outbox/relayMode.ts";
import { type ReplayFilter, replayRows } from "../../db/outbox/replayRows.ts";
import { replaySelectionCounts, type TopicSelection } from "../../db/outbox/replaySelectionCounts.ts";
import { snapshotHorizonCut } from "../../db/outbox/snapshotHorizon.ts";
import { type EventData, eventMetadata, topics } from "../../events/index.ts";
import type { Admin, Producer } from "../../kafka/client.ts";
import { firstByteBatch } from "../byteBatches.ts";
import { publishBatch } from "../publishBatch.ts";
import { readTopicMessageLimits } from "../topicLimits.ts";
import { type RatePacer, ratePacer } from "./ratePacer.ts";
import { decideReplay } from "./replayRule.ts";

/** After every row: the largest xid8 and bigint. */
const END_OF_HISTORY: RelayCursor = { txId: "18446744073709551615", position: "9223372036854775807" };

export interface ReplayRequest {
  filter: ReplayFilter;
  /** Every record to this topic; null: each to its own. */
  toTopic: string | null;
  ratePerSecond: number | null;
  /** The polling relay whose checkpoint says what is published ("outbox", the relay's default name). */
  relayName?: string;
}

export interface ReplayPlan {
  request: ReplayRequest;
  ownTopic: boolean;
  /** The selection is read up to here (inclusive). */
  through: RelayCursor;
  checkpoint: RelayCursor;
  selection: TopicSelection[];
  events: number;
  /** History moved to archive files, which the replay cannot read: said in the plan's output. */
  archived: ArchivedHistory | null;
}

export type ReplayPlanning =
  | { outcome: "planned"; plan: ReplayPlan }
  | { outcome: "refused"; reason: string };

/** The topics live streams flow through (the catalog's and their dead-letter topics): a replay to another
 * topic must not name one of them. */
const liveTopics = new Set<string>(topics.map((topic) => topic.name));

/** Reads what the replay would select and decides, by the rule of replayRule.ts, whether it may run. */
export async function planReplay(
  client: ClientBase,
  admin: Admin,
  request: ReplayRequest,
): Promise<ReplayPlanning> {
  const checkpoint = await loadRelayCheckpoint(client, request.relayName ?? "outbox");
  const { mode: relayMode } = await readRelayMode(client);
  const horizon = await snapshotHorizonCut(client);
  const archived = await archivedThrough(client);
  const selection = await replaySelectionCounts(
    client,
    request.filter,
    { after: START_OF_HISTORY, through: horizon },
    checkpoint,
  );
  const pastHorizon = await replaySelectionCounts(
    client,
    request.filter,
    { after: horizon, through: END_OF_HISTORY },
    checkpoint,
  );
  const decision = decideReplay({
    filter: request.filter,
    toTopic: request.toTopic,
    selection,
    checkpoint,
    relayMode,
    brokerTopics: new Set(await admin.listTopics()),
    liveTopics,
    archived,
    newestPosition: await newestPosition(client),
    eventsPastHorizon: pastHorizon.reduce((sum, topic) => sum + topic.events, 0),
    now: new Date(),
  });
  if (decision.outcome === "refused") return decision;
  return {
    outcome: "planned",
    plan: {
      request,
      ownTopic: decision.ownTopic,
      through: decision.through === "checkpoint" ? checkpoint : horizon,
      checkpoint,
      selection,
      events: selection.reduce((sum, topic) => sum + topic.events, 0),
      archived,
    },
  };
}

/** Who ran a replay and the context its audit event is written in. */
export interface ReplayOperator {
  /** A login name (events/fields.ts `identifier`). */
  name: string;
  context: Omit<EventContext, "metadata" | "source">;
}

/**
 * Appends the audit.history.replayed event, committed before the first record goes out: a replay that cannot
 * be recorded does not run. Its correlation id is the replay's id.
 */
export async function recordReplay(
  db: Database,
  plan: ReplayPlan,
  operator: ReplayOperator,
): Promise<string> {
  const replayId = randomUUID();
  const { filter } = plan.request;
  const data: EventData<"audit.history.replayed"> = {
    replayId,
    operator: operator.name,
    selection: {
      topic: filter.topic ?? null,
      fromPosition: filter.fromPosition ?? null,
      toPosition: filter.toPosition ?? null,
      since: filter.since?.toISOString() ?? null,
      until: filter.until?.toISOString() ?? null,
      aggregateType: filter.aggregate?.type ?? null,
      aggregateId: filter.aggregate?.id ?? null,
      eventType: filter.eventType ?? null,
      correlationId: filter.correlationId ?? null,
    },
    toTopic: plan.request.toTopic,
    through: plan.through,
    events: plan.events,
    eventsPerTopic: Object.fromEntries(plan.selection.map((topic) => [topic.topic, topic.events])),
    ratePerSecond: plan.request.ratePerSecond,
  };
  const [appended] = await writeTransaction(db, async (tx) => {
    // An aggregate named by a login typed (an anonymous attempt's username) that is an erased patient's address
    // or number is recorded by its pseudonym, as an attempt typing it now is: as typed, this event would write it
    // back into the history and onto audit-events after their erasure.
    const typed = data.selection.aggregateId;
    const pseudonym =
      typed === null ? null : await erasedLoginPseudonymOf(tx, operator.context.masterKeys, typed);
    return appendEvents(
      tx,
      { ...operator.context, source: "replay-command", metadata: eventMetadata({ correlationId: replayId }) },
      [
        {
          type: "audit.history.replayed",
          data: { ...data, selection: { ...data.selection, aggregateId: pseudonym ?? typed } },
        },
      ],
    );
  });
  return (appended as { eventId: string }).eventId;
}

export interface ReplayRun {
  /** Rows read per query. */
  pageSize?: number;
  progress?: Progress;
  /** Replaces the real clock of the rate limit (tests). */
  pacer?: RatePacer;
  /** Called after each send Kafka acknowledged, with its rows as published (topic already the target). */
  onSent?: (rows: readonly OutboxRecord[]) => void;
  /** Stops the replay before its next send (the operator's Ctrl-C): ReplayStopped says how far it got. */
  signal?: AbortSignal;
}

export interface ReplayOutcome {
  published: number;
  /** The last row sent; null when none was. */
  lastSent: RelayCursor | null;
}

/**
 * Sends the plan's rows, page by page in (tx_id, position) order, each send under its topic's
 * max.message.bytes and within the rate. The producer is idempotent with one request in flight, so the
 * records of one key keep their order. A send Kafka does not acknowledge stops the replay with
 * ReplayInterrupted, which says how far it got; what was sent stays sent (a replay is a repetition anyway, and
 * running it again repeats it again).
 */
export async function replayHistory(
  client: ClientBase,
  producer: Producer,
  admin: Admin,
  plan: ReplayPlan,
  run: ReplayRun = {},
): Promise<ReplayOutcome> {
  const pacer = run.pacer ?? ratePacer(plan.request.ratePerSecond);
  const targetOf = (row: OutboxRecord) => plan.request.toTopic ?? row.topic;
  const limits = await readTopicMessageLimits(admin, [
    ...new Set(plan.selection.map((topic) => plan.request.toTopic ?? topic.topic)),
  ]);
  let after: RelayCursor = START_OF_HISTORY;
  let published = 0;
  let lastSent: RelayCursor | null = null;
  for (;;) {
    const page = await replayRows(client, plan.request.filter, after, plan.through, run.pageSize ?? 1000);
    if (page.length === 0) break;
    const rows = page.map((row) => ({ ...row, topic: targetOf(row) }));
    for (let remaining = rows; remaining.length > 0; ) {
      const send = firstByteBatch(remaining.slice(0, pacer.sendSize), limits);
      await pacer.beforeSend(send.length);
      if (run.signal?.aborted) throw new ReplayStopped(plan.events, { published, lastSent });
      await publishBatch(producer, send).catch((error: unknown) => {
        throw new ReplayInterrupted(error, { published, lastSent });
      });
      published += send.length;
      const last = send.at(-1) as OutboxRecord;
      lastSent = { txId: last.txId, position: last.position };
      run.progress?.advance(send.length);
      run.onSent?.(send);
      remaining = remaining.slice(send.length);
    }
    const last = page.at(-1) as OutboxRecord;
    after = { txId: last.txId, position: last.position };
  }
  if (published < plan.events) throw new ReplayIncomplete(plan.events, { published, lastSent });
  return { published, lastSent };
}

/**
 * Fewer rows than planned were there to read: the rows below the plan's bound are final, so only deletion takes
 * one away, and the outbox deletes rows only when an archive records them (`audit:archive`, run meanwhile). The
 * audit event says the planned count went out: the replay fails rather than report success without them.
 */
export class ReplayIncomplete extends Error {
  constructor(
    readonly planned: number,
    readonly sent: ReplayOutcome,
  ) {
    super(
      `the replay sent ${sent.published} of the ${planned} events it planned: ${planned - sent.published} were no ` +
        "longer in the outbox when it came to read them (an audit:archive moved them out meanwhile?); replay the " +
        "rest from the archive files, or narrow the selection to what the outbox holds and replay again",
    );
    this.name = "ReplayIncomplete";
  }
}

/** The operator stopped the replay (Ctrl-C) between two sends: what went out stays out. */
export class ReplayStopped extends Error {
  constructor(
    readonly planned: number,
    readonly sent: ReplayOutcome,
  ) {
    const where = sent.lastSent
      ? `, the last at tx ${sent.lastSent.txId}, position ${sent.lastSent.position}`
      : "";
    super(
      `stopped by the operator: ${sent.published} of the ${planned} events planned were replayed${where}; ` +
        `the audit.history.replayed event recorded the plan of ${planned}`,
    );
    this.name = "ReplayStopped";
  }
}

/** A send Kafka did not acknowledge: the replay stopped there, after `sent.published` events. */
export class ReplayInterrupted extends Error {
  constructor(
    cause: unknown,
    readonly sent: ReplayOutcome,
  ) {
    const where = sent.lastSent
      ? `, the last at tx ${sent.lastSent.txId}, position ${sent.lastSent.position}`
      : "";
    super(
      `Kafka did not acknowledge a send (${cause instanceof Error ? cause.message : String(cause)}); ${sent.published} events were replayed before it${where}`,
      { cause },
    );
    this.name = "ReplayInterrupted";
  }
}

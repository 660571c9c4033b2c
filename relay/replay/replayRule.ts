// When a replay may run beside the live relay. The relay's guarantee is per-key order on each topic; a replay
// must not break it, so:
//
// - To the records' own topic (no --to-topic, or --to-topic naming that topic): only rows the relay has already
//   published, at or before its checkpoint. The replayed records are then duplicates of records consumers have
//   had, with the same eventId, key and bytes, which their inbox drops, just as after a relay crash. A row the
//   relay has not published yet is refused: its replayed copy could reach the topic before the relay's original
//   of an older event of the same key, and a consumer would apply them out of order.
//   Nor rows older than the topic's redelivery window (events/catalog.ts): an inbox forgets an event that long
//   after handling it, and would apply its replayed copy again, as new (an old consent grant over a newer
//   withdrawal). In Debezium mode the polling checkpoint stays where the switch left it: only the history
//   published before the switch goes to its own topic, and the refusal says why, not "wait for the relay".
// - To another topic: no live records flow there, so any committed row may go (up to the snapshot horizon, so
//   that the read is one fixed cut of the history). The other topic must exist (nothing creates topics at run
//   time) and must not be another live topic of the catalog, nor a dead-letter topic: their consumers would be
//   handed events of another stream. Nor may any replay write into a topic that holds no events: Kafka's own
//   (`__consumer_offsets`, `__transaction_state`, every `__` name) and Kafka Connect's state topics, whose
//   readers would take a record there for one of their own.
// - A selection of no event at all is refused too: a mistyped id or a range with nothing in it would otherwise
//   report a replay of nothing as success. Where the filters do match events, past the snapshot horizon, the
//   refusal says so rather than blame the filters.
import type { ArchivedHistory } from "../../db/outbox/archivedThrough.ts";
import type { RelayCursor } from "../../db/outbox/relayCheckpoint.ts";
import type { ReplayFilter } from "../../db/outbox/replayRows.ts";
import type { TopicSelection } from "../../db/outbox/replaySelectionCounts.ts";
import { isTopicName, rememberedSince } from "../../events/index.ts";
import { CONNECT_STATE_TOPICS, isConnectStateTopic } from "../../stack/connectTopics.ts";

export interface ReplayCircumstances {
  filter: ReplayFilter;
  toTopic: string | null;
  selection: readonly TopicSelection[];
  checkpoint: RelayCursor;
  /**
   * Which relay publishes the outbox (relay_mode): in Debezium mode the polling checkpoint stays where the switch
   * left it, so what lies past it is not "still to be sent" but published by Debezium, event by event unknown.
   */
  relayMode?: "polling" | "debezium";
  /** Every topic the broker has. */
  brokerTopics: ReadonlySet<string>;
  /** The catalog's topics and dead-letter topics: what live streams flow through. */
  liveTopics: ReadonlySet<string>;
  archived: ArchivedHistory | null;
  /** The outbox's newest position (null: it holds no row): a --from-position after it selects nothing yet. */
  newestPosition: string | null;
  /**
   * Rows the filters match past the snapshot horizon, which the selection leaves out: committed after a
   * transaction still running on the server began, before which a row could yet commit.
   */
  eventsPastHorizon: number;
  /** The present, against which the redelivery windows are counted. */
  now: Date;
}

export type ReplayDecision =
  | {
      outcome: "allowed";
      /** Each record to its own topic (true), or all to --to-topic. */
      ownTopic: boolean;
      /** Read the selection up to here: the checkpoint for the own topic, else the snapshot horizon's cut. */
      through: "checkpoint" | "horizon";
    }
  | { outcome: "refused"; reason: string };

/**
 * Why `topic` can hold no replayed events (it is Kafka's or Kafka Connect's own, or a dead-letter topic), or null
 * when it can.
 */
export function holdsNoEvents(topic: string): string | null {
  if (topic.startsWith("__"))
    return "a topic of Kafka's own (its name starts with __), which holds no events";
  if (isConnectStateTopic(topic))
    return `a topic of Kafka Connect's own state (${Object.values(CONNECT_STATE_TOPICS).join(", ")}), which holds no events`;
  const deadLettersOf = topic.endsWith(".dlq") ? topic.slice(0, -".dlq".length) : null;
  if (deadLettersOf !== null && isTopicName(deadLettersOf))
    return `the dead-letter topic of ${deadLettersOf}, which holds the records its consumers could not apply (npm run dlq lists them, and re-drives them): an event replayed there would be taken for one of them`;
  return null;
}

export function decideReplay(circumstances: ReplayCircumstances): ReplayDecision {
  const { toTopic, selection, checkpoint, archived, filter } = circumstances;
  const selectedTopics = selection.map((topic) => topic.topic);
  const ownTopic = toTopic === null || selectedTopics.every((topic) => topic === toTopic);

  const notForEvents = toTopic === null ? null : holdsNoEvents(toTopic);
  if (notForEvents) return refused(`--to-topic ${toTopic}: ${notForEvents}`);

  if (toTopic !== null && !circumstances.brokerTopics.has(toTopic))
    return refused(
      `--to-topic ${toTopic}: the broker has no such topic; create it first (replay creates none)`,
    );
  if (toTopic !== null && !ownTopic && circumstances.liveTopics.has(toTopic))
    return refused(
      `--to-topic ${toTopic} is a live topic of the catalog, and the selection holds events of ${selectedTopics
        .filter((topic) => topic !== toTopic)
        .join(
          ", ",
        )}: its consumers would be handed another stream's events. Replay to the events' own topic, or to a topic of its own`,
    );
  if (ownTopic) {
    const missing = selectedTopics.filter((topic) => !circumstances.brokerTopics.has(topic));
    if (missing.length > 0)
      return refused(`the broker has no topic ${missing.join(", ")}; run npm run topics`);
  }

  if (archived) {
    const reachesArchive =
      (filter.fromPosition !== undefined &&
        BigInt(filter.fromPosition) <= BigInt(archived.through.position)) ||
      (filter.since !== undefined && filter.since < archived.createdBefore);
    if (reachesArchive)
      return refused(
        `the selection starts in archived history: the events up to position ${archived.through.position} ` +
          `(created before ${archived.createdBefore.toISOString()}) were moved to ${archived.fileName} and are no ` +
          `longer in the outbox. Start after position ${archived.through.position} (--from-position) or at ` +
          `${archived.createdBefore.toISOString()} (--since)`,
      );
  }

  const pastTheEnd = startsPastTheHistory(filter, circumstances.newestPosition, archived);
  if (pastTheEnd) return refused(pastTheEnd);
  if (selection.every((topic) => topic.events === 0) && circumstances.eventsPastHorizon > 0)
    return refused(
      `the ${circumstances.eventsPastHorizon} events these filters match were committed after a transaction ` +
        "still running on the database server began (the snapshot horizon), and a replay reads only before it, " +
        "where no row can commit any more: run it again once that transaction has ended (pg_stat_activity: the " +
        "oldest backend_xmin or backend_xid)",
    );
  if (selection.every((topic) => topic.events === 0))
    return refused(
      "no event in the outbox matches these filters" +
        (archived
          ? ` (the history up to position ${archived.through.position} is archived in ${archived.fileName}, which a replay does not read)`
          : "") +
        ": check the filters (GET /audit/events finds an event by aggregate, type, correlation id and time)",
    );

  const unpublished = selection.filter((topic) => topic.unpublished > 0);
  if (ownTopic && unpublished.length > 0 && circumstances.relayMode === "debezium")
    return refused(
      `${unpublished.map((topic) => `${topic.unpublished} of the selected ${topic.topic} events`).join(", ")} ` +
        `are past the polling relay's checkpoint, where the switch to Debezium left it (tx ${checkpoint.txId}, ` +
        `position ${checkpoint.position}). Debezium publishes the outbox now, and its progress (a WAL position) says ` +
        "nothing about one event, so only the history published before the switch can be replayed to its own topic. " +
        "Narrow the selection (--until, --to-position), replay to another topic (--to-topic), or make the polling " +
        "relay the relay again (npm run relay:switch -- polling) and replay once it has passed these events",
    );
  if (ownTopic && unpublished.length > 0)
    return refused(
      `${unpublished.map((topic) => `${topic.unpublished} of the selected ${topic.topic} events`).join(", ")} ` +
        `are not published by the relay yet (its checkpoint: tx ${checkpoint.txId}, position ${checkpoint.position}). ` +
        "Replaying them to their own topic could put them before older events of the same key that the relay has " +
        "still to send. Narrow the selection (--until, --to-position), wait for the relay, or replay to another topic (--to-topic)",
    );
  if (ownTopic) {
    for (const { topic, oldest } of selection) {
      const remembered = isTopicName(topic) ? rememberedSince(topic, circumstances.now) : null;
      if (remembered === null || oldest >= remembered.since) continue;
      const since = remembered.since.toISOString();
      return refused(
        `the selection holds ${topic} events created before ${since}: consumers remember an ` +
          `event for ${remembered.days} days after handling it (their inbox), so a copy replayed to its own topic would be ` +
          `applied again, as new, over what came after it. Start later (--since ${since}), or ` +
          "replay to another topic (--to-topic)",
      );
    }
  }
  return { outcome: "allowed", ownTopic, through: ownTopic ? "checkpoint" : "horizon" };
}

/**
 * Why a --from-position after the newest event of the history (the outbox's, or the latest archive's cut when
 * the outbox holds nothing after it) selects nothing, as a --since still to come would: a replay of nothing
 * would report success. Null when it names a position the history has reached.
 */
function startsPastTheHistory(
  filter: ReplayCircumstances["filter"],
  newestPosition: string | null,
  archived: ArchivedHistory | null,
): string | null {
  if (filter.fromPosition === undefined) return null;
  const inOutbox = newestPosition === null ? 0n : BigInt(newestPosition);
  const inArchive = archived ? BigInt(archived.through.position) : 0n;
  const newest = inOutbox > inArchive ? inOutbox : inArchive;
  if (BigInt(filter.fromPosition) <= newest) return null;
  return (
    `--from-position ${filter.fromPosition} is after the newest event of the history ` +
    `(${newest === 0n ? "the outbox holds none" : `position ${newest}`}): it selects nothing yet. ` +
    "Check the position (GET /audit/events shows each event's)"
  );
}

function refused(reason: string): ReplayDecision {
  return { outcome: "refused", reason };
}

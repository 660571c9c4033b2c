// The dead-letter topics as a queue an operator works through: `list` shows the dead letters not yet
// re-driven, `redrive` sends them back to their topic and moves the cursor past them. The cursor is the
// committed offset of the consumer group `dlq-redrive`, which nothing else uses.
//
// Re-driving sends a record to every consumer group of its topic, not only to the one that parked it: the
// others find its event id in their inbox and acknowledge it without effect. It also lands after records
// that were written later, so a dead letter whose consumer has applied a newer event of its aggregate since is
// not re-driven (redriveRule.ts): it would put the older state over the newer. Nor is one whose record is not
// the committed event it names: a re-drive puts only committed events on an event topic.

import type pg from "pg";
import type { Progress } from "../../cli/progress.ts";
import type { Database } from "../../db/client.ts";
import {
  type DeadLetterTopicName,
  deadLetterTopicName,
  type Envelope,
  eventDefinition,
  isEventType,
  isTopicName,
  recordKey,
  type TopicName,
  topics,
} from "../../events/index.ts";
import { sendsUnderLimit } from "../../events/record.ts";
import {
  type Admin,
  createIdempotentProducer,
  type createKafka,
  type KafkaMessage,
} from "../../kafka/client.ts";
import { everyAnswer, groupCoordinatorNamed } from "../../kafka/errors.ts";
import { readTopicRange } from "../../kafka/readTopicRange.ts";
import { type DeadLetter, readDeadLetter, redriveMessage } from "../runtime/deadLetters.ts";
import { notCommittedRecords, valueDigest } from "../runtime/inbox.ts";
import { newerEventsApplied } from "../runtime/newerEventsApplied.ts";
import { orderMatters, type Superseded, supersededBecause } from "./redriveRule.ts";

type Kafka = ReturnType<typeof createKafka>;

export const REDRIVE_GROUP = "dlq-redrive";

export const deadLetterTopics: readonly DeadLetterTopicName[] = topics
  .map((topic) => topic.name)
  .filter((name): name is DeadLetterTopicName => name.endsWith(".dlq"));

/** `patient-events` or `patient-events.dlq` → `patient-events.dlq`; throws naming the known topics otherwise. */
export function resolveDeadLetterTopic(name: string): DeadLetterTopicName {
  const topic = name.endsWith(".dlq") ? name.slice(0, -".dlq".length) : name;
  if (!isTopicName(topic)) {
    throw new Error(`Unknown topic "${name}"; one of: ${deadLetterTopics.join(", ")}`);
  }
  return deadLetterTopicName(topic);
}

/** The topic a dead-letter topic's records came from. */
export function originalTopic(dlqTopic: DeadLetterTopicName): TopicName {
  return dlqTopic.slice(0, -".dlq".length) as TopicName;
}

interface Range {
  from: Map<number, bigint>;
  to: Map<number, bigint>;
  /** How many records the topic retains, on every partition. */
  retained: number;
}

/** From the re-drive cursor (or the oldest retained record) to the current end of each partition. */
async function deadLetterRange(admin: Admin, dlqTopic: DeadLetterTopicName, all: boolean): Promise<Range> {
  const [ends, [cursor]] = await everyAnswer([
    admin.fetchTopicOffsets(dlqTopic),
    admin.fetchOffsets({ groupId: REDRIVE_GROUP, topics: [dlqTopic] }).catch((error: unknown) => {
      throw groupCoordinatorNamed(error, REDRIVE_GROUP);
    }),
  ]);
  const from = new Map<number, bigint>();
  const to = new Map<number, bigint>();
  let retained = 0;
  for (const { partition, low, high } of ends) {
    retained += Number(BigInt(high) - BigInt(low));
    const committed = BigInt(cursor?.partitions.find((entry) => entry.partition === partition)?.offset ?? -1);
    if (!all && committed > BigInt(high))
      throw new RedriveCursorPastEnd(dlqTopic, partition, committed, high);
    const oldest = BigInt(low);
    from.set(partition, all || committed < oldest ? oldest : committed);
    to.set(partition, BigInt(high));
  }
  return { from, to, retained };
}

export interface ListOptions {
  /** Also the dead letters already re-driven, as long as the topic retains them. */
  all?: boolean;
}

/** The dead letters of each topic, listed at once; a failure is thrown once every topic has answered. */
export async function listDeadLettersOf(
  kafka: Kafka,
  admin: Admin,
  dlqTopics: readonly DeadLetterTopicName[],
  options: ListOptions = {},
): Promise<DeadLetter[]> {
  const lists = await everyAnswer(dlqTopics.map((topic) => listDeadLetters(kafka, admin, topic, options)));
  return lists.flat();
}

export async function listDeadLetters(
  kafka: Kafka,
  admin: Admin,
  dlqTopic: DeadLetterTopicName,
  options: ListOptions = {},
): Promise<DeadLetter[]> {
  const { from, to } = await deadLetterRange(admin, dlqTopic, options.all ?? false);
  const records = await readTopicRange(kafka, dlqTopic, from, to);
  return records.map(({ partition, message }) => readDeadLetter(dlqTopic, partition, message));
}

export interface RedriveOptions {
  /**
   * Re-drive only the dead letters of these events, wherever they are in the retained topic, and leave the
   * cursor where it is. Without it: every dead letter after the cursor, which then moves past them. If any of
   * them has no dead letter there, nothing is re-driven (DeadLettersNotFound); nor if there is none after the
   * cursor (NoDeadLettersToRedrive).
   */
  eventIds?: ReadonlySet<string>;
  /** Reports the dead letters read (a long command's progress), given how many the range holds. */
  progress?: (records: number) => Pick<Progress, "advance">;
  /**
   * Re-drive the others and leave the superseded ones parked (the cursor moves past them too), rather than
   * refuse the whole re-drive (DeadLettersSuperseded).
   */
  skipSuperseded?: boolean;
  /** The present, against which the redelivery windows are counted. */
  now?: Date;
  /** Called when another re-drive of the topic is running: this one waits for it to end. */
  waiting?: () => void;
}

export interface RedriveOutcome {
  /** Sent back to their topic, in their dead-letter order. */
  redriven: DeadLetter[];
  /**
   * Left parked: with skipSuperseded, each the re-drive rule keeps parked (redriveRule.ts: no committed event, or
   * older than what its consumer has applied since); and each that holds no record to send back (too large to park
   * whole).
   */
  skipped: Superseded[];
}

/**
 * Sends dead letters back to their topic, byte for byte, in their dead-letter order, unless the re-drive rule
 * keeps one of them parked (redriveRule.ts: its record is no committed event, or it would be applied over newer
 * events of its aggregate): then nothing is sent, and DeadLettersSuperseded
 * names each, unless `skipSuperseded`. `db` holds the outbox and the consumers' inboxes.
 *
 * One re-drive of a topic runs at a time (a session lock in `db`, released when its connection ends): two would
 * each read the cursor, and the one to finish last would set it back to the end of its own range, before the
 * dead letters the other re-drove, which would then be listed, and re-driven, again.
 */
export async function redriveDeadLetters(
  kafka: Kafka,
  admin: Admin,
  db: Database,
  dlqTopic: DeadLetterTopicName,
  options: RedriveOptions = {},
): Promise<RedriveOutcome> {
  const client = await db.$client.connect();
  let broken = false;
  try {
    const lock = `dlq-redrive:${dlqTopic}`;
    const { rows } = await client.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_lock(hashtext($1)) AS locked",
      [lock],
    );
    if (rows[0]?.locked !== true) {
      options.waiting?.();
      await client.query("SELECT pg_advisory_lock(hashtext($1))", [lock]);
    }
    try {
      return await redrive(kafka, admin, client, dlqTopic, options);
    } finally {
      await client.query("SELECT pg_advisory_unlock(hashtext($1))", [lock]).catch(() => {
        broken = true;
      });
    }
  } finally {
    // A connection that could not unlock still holds the lock: closed, it lets it go.
    client.release(broken);
  }
}

async function redrive(
  kafka: Kafka,
  admin: Admin,
  client: pg.ClientBase,
  dlqTopic: DeadLetterTopicName,
  options: RedriveOptions,
): Promise<RedriveOutcome> {
  const selective = options.eventIds !== undefined;
  const { from, to, retained } = await deadLetterRange(admin, dlqTopic, selective);
  const inRange = [...to].reduce(
    (sum, [partition, end]) => sum + Number(end - (from.get(partition) ?? end)),
    0,
  );
  const progress = options.progress?.(inRange);
  const records = (await readTopicRange(kafka, dlqTopic, from, to, undefined, progress))
    .map((record) => ({ ...record, letter: readDeadLetter(dlqTopic, record.partition, record.message) }))
    .filter(({ letter }) => !selective || (letter.eventId !== null && options.eventIds?.has(letter.eventId)));
  const found = new Set(records.map(({ letter }) => letter.eventId));
  const missing = [...(options.eventIds ?? [])].filter((eventId) => !found.has(eventId));
  if (missing.length > 0) throw new DeadLettersNotFound(dlqTopic, missing);
  if (records.length === 0) throw new NoDeadLettersToRedrive(dlqTopic, retained);

  const topic = originalTopic(dlqTopic);
  // A dead letter of a record too large to park whole holds nothing to send back: it stays parked, and the
  // cursor moves past it as past the others.
  const empty: Superseded[] = records.flatMap(({ letter }) =>
    letter.recordOmitted === null ? [] : [{ letter, reason: omittedReason(letter) }],
  );
  const whole = records.filter(({ letter }) => letter.recordOmitted === null);
  const uncommitted = await notCommittedRecords(
    client,
    whole.map(({ letter, message }) => ({
      eventId: letter.eventId,
      valueSha256: valueDigest(message.value),
    })),
  );
  const places = await newerEventsApplied(
    client,
    whole.map(({ letter, message }) => {
      const aggregate = orderMatters(topic) ? aggregateOf(letter, message) : null;
      return {
        eventId: letter.eventId,
        consumer: letter.consumer,
        topic,
        aggregateType: aggregate?.type ?? null,
        aggregateId: aggregate?.id ?? null,
      };
    }),
  );
  const now = options.now ?? new Date();
  const superseded: Superseded[] = [];
  const sending = whole.filter(({ letter, message }, index) => {
    const place = places[index];
    const notCommitted = uncommitted[index] ?? null;
    // Applied already (by a re-drive that stopped before it moved the cursor): its consumer's inbox drops the
    // copy as a duplicate, so it is sent again rather than refused as superseded by the events applied after it.
    if (place?.alreadyApplied && notCommitted === null) return true;
    const reason = supersededBecause(
      {
        letter,
        topic,
        createdAt: place?.createdAt ?? envelopeTime(message),
        newerApplied: place?.newerApplied ?? null,
        notCommitted,
        otherKey: notCommitted === null ? otherKeyThan(message) : null,
      },
      now,
    );
    if (reason !== null) superseded.push({ letter, reason });
    return reason === null;
  });
  if (superseded.length > 0 && !options.skipSuperseded) throw new DeadLettersSuperseded(dlqTopic, superseded);

  if (sending.length > 0) {
    const producer = createIdempotentProducer(kafka);
    try {
      // Connected inside the try: a producer the broker refuses a producer id (no WRITE on any topic) holds its
      // connection open, which would keep the command from ever exiting after it reported the refusal.
      await producer.connect();
      const messages = sending.map(({ letter, message }) => redriveMessage(letter, message));
      // One send after another, each under the topic's limit: a long backlog is never one refused batch.
      for (const send of sendsUnderLimit(
        messages.map((message) => ({ ...message, headers: message.headers ?? {} })),
      )) {
        await producer.send({ topic, acks: -1, messages: send });
      }
    } finally {
      await producer.disconnect();
    }
  }
  // Moved only once everything before it is back on its topic: a crash in between re-drives again, and the
  // consumers' inboxes make that harmless.
  if (!selective && [...to].some(([partition, end]) => (from.get(partition) ?? 0n) < end)) {
    await admin
      .setOffsets({
        groupId: REDRIVE_GROUP,
        topic: dlqTopic,
        partitions: [...to].map(([partition, end]) => ({ partition, offset: String(end) })),
      })
      .catch((error: unknown) => {
        throw groupCoordinatorNamed(error, REDRIVE_GROUP);
      });
  }
  return { redriven: sending.map(({ letter }) => letter), skipped: [...empty, ...superseded] };
}

function omittedReason({ eventId, recordOmitted, original }: DeadLetter): string {
  return (
    `${eventId ?? "a record"}: it took ${recordOmitted} bytes, more than a dead letter holds, so its dead letter ` +
    `holds none of it; the record is at ${original.topic} partition ${original.partition} offset ${original.offset}`
  );
}

/**
 * The aggregate a dead letter's event belongs to, as the catalog and the record's key say (a topic keyed by
 * aggregate keys each record by its aggregate id), for an event the outbox no longer holds; null for a record
 * of no cataloged event type.
 */
function aggregateOf(letter: DeadLetter, message: KafkaMessage): { type: string; id: string } | null {
  if (letter.eventType === null || !isEventType(letter.eventType) || message.key === null) return null;
  return { type: eventDefinition(letter.eventType).aggregateType, id: message.key.toString() };
}

/**
 * The key a committed event's record is published under (its aggregate's id, or on a topic keyed by event its
 * id), when the record's key is another; null when it is that one. For a type this catalog does not know (a newer
 * platform's), none it could check: `expected` null, and the letter stays parked, failing closed.
 */
function otherKeyThan(message: KafkaMessage): { expected: string | null } | null {
  const { eventId, eventType, data } = JSON.parse(String(message.value)) as Envelope;
  if (!isEventType(eventType)) return { expected: null };
  const expected = recordKey(eventType, eventId, data as never);
  return message.key?.toString() === expected ? null : { expected };
}

/** The envelope's timestamp, for an event the outbox no longer holds; null for a value that has none. */
function envelopeTime(message: KafkaMessage): Date | null {
  try {
    const { timestamp } = JSON.parse(String(message.value)) as { timestamp?: unknown };
    const time = typeof timestamp === "string" ? new Date(timestamp) : null;
    return time !== null && !Number.isNaN(time.getTime()) ? time : null;
  } catch {
    return null;
  }
}

/** Dead letters the re-drive rule keeps parked (redriveRule.ts), each with why: none was sent. */
export class DeadLettersSuperseded extends Error {
  constructor(
    readonly dlqTopic: DeadLetterTopicName,
    readonly superseded: readonly Superseded[],
  ) {
    super(supersededLines(dlqTopic, superseded, (reason) => reason).join("\n"));
    this.name = "DeadLettersSuperseded";
  }

  /**
   * The message, one line per dead letter, each reason passed through `quote` first: what it says of a dead
   * letter (its consumer, its event type) is what a producer of dead letters wrote, escaped for a terminal there.
   */
  render(quote: (reason: string) => string): string {
    return supersededLines(this.dlqTopic, this.superseded, quote).join("\n");
  }
}

function supersededLines(
  dlqTopic: DeadLetterTopicName,
  superseded: readonly Superseded[],
  quote: (reason: string) => string,
): string[] {
  return [
    `re-drive refused: ${superseded.length} dead letter(s) of ${dlqTopic} must stay parked; nothing re-driven:`,
    ...superseded.map(({ reason }) => `  ${quote(reason)}`),
    "Leave them parked and re-drive the others: --skip-superseded (the cursor then moves past them too; " +
      "`list --all` still shows them), or --event naming the others",
  ];
}

/**
 * A re-drive cursor past its partition's end (set by hand, or left by a topic replaced on another cluster): read
 * from there, every dead letter before it would be neither listed nor re-driven, and the queue would look empty.
 */
export class RedriveCursorPastEnd extends Error {
  constructor(
    readonly dlqTopic: DeadLetterTopicName,
    readonly partition: number,
    readonly cursor: bigint,
    readonly end: string,
  ) {
    super(
      `the re-drive cursor of ${dlqTopic} partition ${partition} is at offset ${cursor}, past the partition's end ` +
        `(${end}): the dead letters before it would be neither listed nor re-driven. Set it back to where the ` +
        `re-drive stopped (kafka-consumer-groups --group ${REDRIVE_GROUP} --reset-offsets); list --all shows every ` +
        "retained dead letter meanwhile",
    );
    this.name = "RedriveCursorPastEnd";
  }
}

/** Events named for a re-drive that have no dead letter in the topic (a typo, or another topic's): none was sent. */
export class DeadLettersNotFound extends Error {
  constructor(
    readonly dlqTopic: DeadLetterTopicName,
    readonly eventIds: readonly string[],
  ) {
    super(
      `${dlqTopic} holds no dead letter of event ${eventIds.join(", ")} (of those it retains); nothing re-driven`,
    );
    this.name = "DeadLettersNotFound";
  }
}

/**
 * No dead letter after the re-drive cursor: a re-drive would send nothing, and must not say it re-drove (the
 * dead letters were re-driven already, or the topic named is not the one that holds them).
 */
export class NoDeadLettersToRedrive extends Error {
  constructor(
    readonly dlqTopic: DeadLetterTopicName,
    /** The dead letters the topic retains, re-driven already: none, it never held one (or they expired). */
    retained: number,
  ) {
    super(
      retained === 0
        ? `${dlqTopic} holds no dead letter (none was parked there, or those parked have expired); nothing re-driven`
        : `${dlqTopic} holds no dead letter after the re-drive cursor (the ${retained} it retains were re-driven already; list --all ` +
            "shows each); nothing re-driven",
    );
    this.name = "NoDeadLettersToRedrive";
  }
}

// The dead-letter topics as a queue an operator works through: `list` shows the dead letters not yet
// re-driven, `redrive` sends them back to their topic and moves the cursor past them. The cursor is the
// committed offset of the consumer group `dlq-redrive`, which nothing else uses.
//
// Re-driving sends a record to every consumer group of its topic, not only to the one that parked it: the
// others find its event id in their inbox and acknowledge it without effect. It also lands after records
// that were written later: a re-driven event is applied after newer events of its aggregate.
import type { Progress } from "../../cli/progress.ts";
import {
  type DeadLetterTopicName,
  deadLetterTopicName,
  isTopicName,
  type TopicName,
  topics,
} from "../../events/index.ts";
import { sendsUnderLimit } from "../../events/record.ts";
import { type Admin, createIdempotentProducer, type createKafka } from "../../kafka/client.ts";
import { readTopicRange } from "../../kafka/readTopicRange.ts";
import { type DeadLetter, readDeadLetter, redriveMessage } from "../runtime/deadLetters.ts";

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
}

/** From the re-drive cursor (or the oldest retained record) to the current end of each partition. */
async function deadLetterRange(admin: Admin, dlqTopic: DeadLetterTopicName, all: boolean): Promise<Range> {
  const [ends, [cursor]] = await Promise.all([
    admin.fetchTopicOffsets(dlqTopic),
    admin.fetchOffsets({ groupId: REDRIVE_GROUP, topics: [dlqTopic] }),
  ]);
  const from = new Map<number, bigint>();
  const to = new Map<number, bigint>();
  for (const { partition, low, high } of ends) {
    const committed = BigInt(cursor?.partitions.find((entry) => entry.partition === partition)?.offset ?? -1);
    const oldest = BigInt(low);
    from.set(partition, all || committed < oldest ? oldest : committed);
    to.set(partition, BigInt(high));
  }
  return { from, to };
}

export interface ListOptions {
  /** Also the dead letters already re-driven, as long as the topic retains them. */
  all?: boolean;
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
   * them has no dead letter there, nothing is re-driven (DeadLettersNotFound).
   */
  eventIds?: ReadonlySet<string>;
  /** Reports the dead letters read (a long command's progress), given how many the range holds. */
  progress?: (records: number) => Pick<Progress, "advance">;
}

/** Sends dead letters back to their topic, byte for byte, in their dead-letter order; returns them. */
export async function redriveDeadLetters(
  kafka: Kafka,
  admin: Admin,
  dlqTopic: DeadLetterTopicName,
  options: RedriveOptions = {},
): Promise<DeadLetter[]> {
  const selective = options.eventIds !== undefined;
  const { from, to } = await deadLetterRange(admin, dlqTopic, selective);
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

  if (records.length > 0) {
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    try {
      const messages = records.map(({ letter, message }) => redriveMessage(letter, message));
      // One send after another, each under the topic's limit: a long backlog is never one refused batch.
      for (const send of sendsUnderLimit(
        messages.map((message) => ({ ...message, headers: message.headers ?? {} })),
      )) {
        await producer.send({ topic: originalTopic(dlqTopic), acks: -1, messages: send });
      }
    } finally {
      await producer.disconnect();
    }
  }
  // Moved only once everything before it is back on its topic: a crash in between re-drives again, and the
  // consumers' inboxes make that harmless.
  if (!selective && [...to].some(([partition, end]) => (from.get(partition) ?? 0n) < end)) {
    await admin.setOffsets({
      groupId: REDRIVE_GROUP,
      topic: dlqTopic,
      partitions: [...to].map(([partition, end]) => ({ partition, offset: String(end) })),
    });
  }
  return records.map(({ letter }) => letter);
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

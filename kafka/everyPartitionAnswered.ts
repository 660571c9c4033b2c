// A guard around kafkajs' sends: a send is done only when every partition it wrote to has answered.
//
// kafkajs (2.2.4, src/producer/sendMessages.js) remembers, between its own retries of one send, which brokers
// have answered, and on a retry asks only the brokers that have not. When a broker dies mid-send, its
// partitions move to new leaders; a new leader that had already answered for its own partitions is not asked
// again, so the moved partitions' records are never written, and the send resolves as if they had been. A
// transaction around it then commits without them: the chaos run lost 4 and 7 events of about 5,000 that way,
// each time on the partitions of the killed broker. Conversely, a moved partition whose new leader had not yet
// answered is written twice within the send.
//
// The producers record which partition their partitioner (kafka/keyPartitioner.ts) gave each message (the same
// murmur2 partitioning as Java's clients and Debezium's), and each send checks the answers against it: a partition with no answer,
// or with two, fails the send with PartitionsNotAnswered. The caller's retry then sends the whole batch again
// (the relay aborts its transaction first, so nothing of the failed attempt is ever read).
import type { ICustomPartitioner, Message, ProducerBatch, RecordMetadata } from "kafkajs";
import { keyPartitioner } from "./keyPartitioner.ts";
import type { LeaderBook } from "./oneLeaderPerSend.ts";

/** Kafka's answers did not cover each partition of the send exactly once: no record of it may be trusted. */
export class PartitionsNotAnswered extends Error {
  /** Not Kafka's refusal: a retry (a fresh send of the whole batch) is the remedy. */
  readonly retriable = true;

  constructor(
    readonly unanswered: readonly string[],
    readonly answeredTwice: readonly string[],
  ) {
    const problems = [
      unanswered.length > 0 && `no answer for ${unanswered.join(", ")}`,
      answeredTwice.length > 0 && `two answers for ${answeredTwice.join(", ")}`,
    ].filter(Boolean);
    super(`${problems.join("; ")}: the send is not trusted and must be made again`);
    this.name = "PartitionsNotAnswered";
  }
}

/** The partition kafkajs gave each message object, last time it placed it. */
export type PartitionLedger = WeakMap<Message, number>;

/**
 * The producers' partitioner (kafka/keyPartitioner.ts: where kafkajs' default and Java's clients place a record),
 * noting in `ledger` where it placed each message, and in `leaders` (when given)
 * each topic's partitions and leaders as kafkajs saw them then.
 */
export function recordingPartitioner(ledger: PartitionLedger, leaders?: LeaderBook): ICustomPartitioner {
  return () => {
    const partition = keyPartitioner();
    return (args) => {
      const placed = partition(args);
      ledger.set(args.message, placed);
      leaders?.set(args.topic, args.partitionMetadata);
      return placed;
    };
  };
}

/**
 * Sends `batch` with `send` and checks that each partition its messages were placed in answered exactly once.
 * A send without acknowledgements (acks 0) has no answers to check.
 */
export async function sendEveryPartitionAnswered(
  ledger: PartitionLedger,
  batch: ProducerBatch,
  send: (batch: ProducerBatch) => Promise<RecordMetadata[]>,
): Promise<RecordMetadata[]> {
  const answers = await send(batch);
  if (batch.acks === 0) return answers;
  checkAnswers(ledger, batch.topicMessages ?? [], answers);
  return answers;
}

export function checkAnswers(
  ledger: PartitionLedger,
  sent: readonly { topic: string; messages: readonly Message[] }[],
  answers: readonly RecordMetadata[],
): void {
  const answerCount = new Map<string, number>();
  for (const answer of answers) {
    const name = `${answer.topicName}/${answer.partition}`;
    answerCount.set(name, (answerCount.get(name) ?? 0) + 1);
  }
  const unanswered = new Set<string>();
  const answeredTwice = new Set<string>();
  for (const { topic, messages } of sent) {
    for (const message of messages) {
      const name = `${topic}/${ledger.get(message) ?? "?"}`;
      const count = answerCount.get(name) ?? 0;
      if (count === 0) unanswered.add(name);
      else if (count > 1) answeredTwice.add(name);
    }
  }
  if (unanswered.size > 0 || answeredTwice.size > 0)
    throw new PartitionsNotAnswered([...unanswered].sort(), [...answeredTwice].sort());
}

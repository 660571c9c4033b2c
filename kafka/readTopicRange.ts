// Reads a slice of a topic, [from, to) per partition, without joining anyone's consumer group or committing:
// how the `dlq` command looks at dead letters, relay:rebase at the tail of the topics, and the tests at what
// the broker holds.
import { randomUUID } from "node:crypto";
import { createConsumer, type createKafka, type KafkaMessage } from "./client.ts";
import { groupCoordinatorNamed } from "./errors.ts";

export interface ReadRecord {
  partition: number;
  message: KafkaMessage;
}

type Kafka = ReturnType<typeof createKafka>;

/** Records of `topic` from `from` (inclusive) to `to` (exclusive) on each partition, in offset order per partition. */
export async function readTopicRange(
  kafka: Kafka,
  topic: string,
  from: ReadonlyMap<number, bigint>,
  to: ReadonlyMap<number, bigint>,
  timeoutMs = 30_000,
  /** Counts each record of the range as it is read. */
  progress?: { advance(count: number): void },
): Promise<ReadRecord[]> {
  const pending = new Set(
    [...to].filter(([partition, end]) => (from.get(partition) ?? 0n) < end).map(([p]) => p),
  );
  if (pending.size === 0) return [];

  const groupId = `topic-reader-${randomUUID()}`;
  const consumer = createConsumer(kafka, { groupId, maxWaitTimeMs: 100 });
  // kafkajs restarts a consumer after a retriable error (a broker restarting), which the offset filter below
  // allows for; one it does not restart (a group or topic this principal is refused) never reads the range, and
  // waiting for the timeout would report a slow read for what is a refusal.
  let stopped: (error: unknown) => void = () => {};
  const crashed = new Promise<never>((_, reject) => {
    stopped = reject;
  });
  crashed.catch(() => {});
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) stopped(groupCoordinatorNamed(payload.error, groupId));
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const records: ReadRecord[] = [];
    let finished: () => void = () => {};
    const allRead = new Promise<void>((resolve) => {
      finished = resolve;
    });
    const next = new Map(from);
    const reached = (partition: number, offset: bigint) => {
      if (offset + 1n >= (to.get(partition) ?? 0n) && pending.delete(partition) && pending.size === 0)
        finished();
    };
    // A partition written in Kafka transactions may end in a commit marker, which is never delivered as a
    // message: the end of each fetched batch (markers included) says how far the partition was read.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.topic === topic && payload.lastOffset !== null)
        reached(payload.partition, BigInt(payload.lastOffset));
    });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const end = to.get(partition) ?? 0n;
        const offset = BigInt(message.offset);
        // `next` rather than `from`: a consumer kafkajs restarts after a crash (a broker restarting) reads the
        // partition again from its start, and a record already read must not be returned twice.
        if (offset < end && offset >= (next.get(partition) ?? 0n)) {
          next.set(partition, offset + 1n);
          records.push({ partition, message });
          progress?.advance(1);
        }
        reached(partition, offset);
      },
    });
    for (const partition of pending) {
      try {
        consumer.seek({ topic, partition, offset: String(from.get(partition) ?? 0n) });
      } catch {
        // The consumer crashed between run() and here and kafkajs restarts it from the beginning (no group to
        // seek in meanwhile); the offset filter above drops what precedes the range.
      }
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`${topic}: partitions ${[...pending].join(", ")} not read within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
    });
    await Promise.race([allRead, timedOut, crashed]).finally(() => clearTimeout(timer));
    return records.sort(
      (a, b) => a.partition - b.partition || Number(BigInt(a.message.offset) - BigInt(b.message.offset)),
    );
  } finally {
    await consumer.disconnect();
  }
}

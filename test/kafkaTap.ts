// Reads back what the broker really holds: a tap remembers each partition's end offset when it is opened,
// then collects every record written after that point.
import { randomUUID } from "node:crypto";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";
import { type Admin, type Consumer, createKafka } from "../kafka/client.ts";
import { type ReadRecord, readTopicRange } from "../kafka/readTopicRange.ts";

export interface TappedRecord {
  /** The envelope's eventId, read once on arrival. */
  eventId: string;
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

export interface TopicTap {
  /** Every record written since the tap was opened, up to the topic's end now, in offset order per partition. */
  read(): Promise<ReadRecord[]>;
  /**
   * Collects records until `done` says enough (or the timeout passes), then keeps reading `settleMs` more.
   * Read committed, as every consumer of the platform reads; `readUncommitted` shows what the log physically
   * holds, records of aborted or still open transactions included.
   */
  collect(options: {
    done: (records: TappedRecord[]) => boolean;
    timeoutMs?: number;
    settleMs?: number;
    readUncommitted?: boolean;
  }): Promise<TappedRecord[]>;
}

/** `security` for a broker with TLS or SASL (test/secureKafka.ts); unset, the environment's, as every client. */
export async function tapTopic(
  brokers: string[],
  topic: string,
  security?: KafkaSecurity,
): Promise<TopicTap> {
  const kafka = createKafka({ brokers, clientId: "test-tap", security });
  const endOffsets = async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return await topicOffsets(admin, topic);
    } finally {
      await admin.disconnect();
    }
  };
  const startOffsets = await endOffsets();
  const asPositions = (offsets: typeof startOffsets) =>
    new Map(offsets.map(({ partition, high }) => [partition, BigInt(high)]));

  return {
    async read() {
      return readTopicRange(kafka, topic, asPositions(startOffsets), asPositions(await endOffsets()));
    },
    async collect({ done, timeoutMs = 30_000, settleMs = 500, readUncommitted = false }) {
      const consumer = kafka.consumer({
        groupId: `test-tap-${randomUUID()}`,
        maxWaitTimeInMs: 100,
        readUncommitted,
      });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const records: TappedRecord[] = [];
      let satisfied: () => void = () => {};
      const enough = new Promise<void>((resolve) => {
        satisfied = resolve;
      });
      // The next offset wanted per partition: a consumer that kafkajs restarts after a crash (a broker killed
      // or restarted moments ago) reads again from its start, and what it had read must not count twice.
      const next = new Map(startOffsets.map(({ partition, offset }) => [partition, BigInt(offset)]));
      await consumer.run({
        eachMessage: async ({ message, partition }) => {
          if (BigInt(message.offset) < (next.get(partition) ?? 0n)) return;
          next.set(partition, BigInt(message.offset) + 1n);
          const value = message.value?.toString() ?? null;
          records.push({
            eventId: eventIdOf(value),
            topic,
            partition,
            offset: message.offset,
            key: message.key?.toString() ?? null,
            value,
            headers: Object.fromEntries(
              Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]),
            ),
          });
          if (done(records)) satisfied();
        },
      });
      for (const { partition, offset } of startOffsets)
        seekUnlessRestarting(consumer, { topic, partition, offset });
      // `done` may also become true with no new record (it can watch something else than the topic).
      const recheck = setInterval(() => done(records) && satisfied(), 100);
      await Promise.race([enough, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
      clearInterval(recheck);
      await new Promise((resolve) => setTimeout(resolve, settleMs));
      await consumer.disconnect();
      return records;
    },
  };
}

/** The envelope's eventId; empty for a value that is not an envelope (a poison record a test parks on purpose). */
function eventIdOf(value: string | null): string {
  try {
    const { eventId } = JSON.parse(value ?? "{}") as { eventId?: unknown };
    return typeof eventId === "string" ? eventId : "";
  } catch {
    return "";
  }
}

/** A `done` condition met once every one of `eventIds` has arrived; checks each record once. */
export function containsAll(eventIds: Iterable<string>): (records: TappedRecord[]) => boolean {
  const missing = new Set(eventIds);
  let checked = 0;
  return (records) => {
    for (; checked < records.length; checked++) missing.delete((records[checked] as TappedRecord).eventId);
    return missing.size === 0;
  };
}

/**
 * Seeks, unless the consumer crashed between run() and here (kafkajs then has no group to seek in and restarts
 * the consumer by itself from the beginning): the caller skips what lies before its start offsets anyway.
 */
export function seekUnlessRestarting(
  consumer: Consumer,
  position: { topic: string; partition: number; offset: string },
): void {
  try {
    consumer.seek(position);
  } catch {
    // Restarting: it reads from the beginning, and the caller's offset filter drops what precedes the start.
  }
}

/**
 * The topic's offsets, asked again (after fresh metadata) while a broker answers that it no longer leads a
 * partition: on a cluster, leadership moves when a broker restarts and again when it is made preferred leader.
 */
export async function topicOffsets(
  admin: Admin,
  topic: string,
): Promise<Awaited<ReturnType<Admin["fetchTopicOffsets"]>>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (error) {
      if (attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
      await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
    }
  }
}

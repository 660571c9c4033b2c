// Reads back what the broker really holds: a tap remembers each partition's end offset when it is opened,
// then collects every record written after that point.
import { randomUUID } from "node:crypto";
import { type ReadRecord, readTopicRange } from "../consumers/deadLetters/readTopicRange.ts";
import { createKafka } from "../kafka/client.ts";

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

export async function tapTopic(brokers: string[], topic: string): Promise<TopicTap> {
  const kafka = createKafka({ brokers, clientId: "test-tap" });
  const endOffsets = async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return await admin.fetchTopicOffsets(topic);
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
      await consumer.run({
        eachMessage: async ({ message, partition }) => {
          const value = message.value?.toString() ?? null;
          records.push({
            eventId: (JSON.parse(value ?? "{}") as { eventId?: string }).eventId ?? "",
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
      for (const { partition, offset } of startOffsets) consumer.seek({ topic, partition, offset });
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

/** A `done` condition met once every one of `eventIds` has arrived; checks each record once. */
export function containsAll(eventIds: Iterable<string>): (records: TappedRecord[]) => boolean {
  const missing = new Set(eventIds);
  let checked = 0;
  return (records) => {
    for (; checked < records.length; checked++) missing.delete((records[checked] as TappedRecord).eventId);
    return missing.size === 0;
  };
}

// Reading the event topics as a consumer of the platform does (read_committed): live during the run, to time
// when each event became visible, and once at the end, every record from the run's start to the topics' end.
import { randomUUID } from "node:crypto";
import { createConsumer, type createKafka } from "../kafka/client.ts";
import { readTopicRange } from "../kafka/readTopicRange.ts";
import type { ReadRecord } from "./report.ts";

type Kafka = ReturnType<typeof createKafka>;
type Offsets = ReadonlyMap<string, ReadonlyMap<number, bigint>>;

export interface Arrivals {
  /** When each event id was first seen. */
  visibleAtMs: Map<string, number>;
  stop(): Promise<void>;
}

/** A fresh group reading from the beginning: events of earlier runs are read too, and not asked about. */
export async function watchArrivals(kafka: Kafka, topics: readonly string[]): Promise<Arrivals> {
  const consumer = createConsumer(kafka, {
    groupId: `chaos-watch-${randomUUID()}`,
    maxWaitTimeMs: 100,
    sessionTimeoutMs: 10_000,
  });
  const visibleAtMs = new Map<string, number>();
  await consumer.connect();
  await consumer.subscribe({ topics: [...topics], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ message }) => {
      const eventId = message.headers?.eventId?.toString();
      if (eventId && !visibleAtMs.has(eventId)) visibleAtMs.set(eventId, Date.now());
    },
  });
  return { visibleAtMs, stop: () => consumer.disconnect() };
}

export async function readBack(kafka: Kafka, from: Offsets, to: Offsets): Promise<ReadRecord[]> {
  const records: ReadRecord[] = [];
  for (const [topic, ends] of to) {
    const read = await withRetries(() =>
      readTopicRange(kafka, topic, from.get(topic) ?? new Map(), ends, 180_000),
    );
    for (const { partition, message } of read) {
      const headers = Object.fromEntries(
        Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]),
      );
      records.push({
        topic,
        partition,
        offset: BigInt(message.offset),
        key: message.key?.toString() ?? null,
        value: message.value?.toString() ?? null,
        headers,
        eventId: headers.eventId ?? null,
      });
    }
  }
  return records;
}

/** A consumer that joins while a restarted node takes its leaderships back may fail to start: try again. */
async function withRetries<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
  }
}

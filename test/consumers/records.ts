// Kafka records exactly as the relays publish them (the record contract of docs/architecture.md), built here so
// that consumer tests can also publish what a relay never would: the same record twice, or a broken one.
import { randomUUID } from "node:crypto";
import { exampleEvent } from "../../events/examples.ts";
import {
  ENVELOPE_VERSION,
  type Envelope,
  type EventData,
  type EventType,
  eventDefinition,
  parseEventData,
  recordKey,
} from "../../events/index.ts";
import { createConsumer, createIdempotentProducer, createKafka, type Message } from "../../kafka/client.ts";

export interface TestRecord {
  topic: string;
  eventId: string;
  message: Message & { key: string; value: string };
}

/** A valid record of `type`: the example data with `overrides`, a fresh event id and the relay's headers. */
export function eventRecord<T extends EventType>(type: T, overrides: Partial<EventData<T>> = {}): TestRecord {
  const data = parseEventData(type, exampleEvent(type, overrides).data);
  const eventId = randomUUID();
  const envelope: Envelope = {
    eventId,
    eventType: type,
    timestamp: new Date().toISOString(),
    source: "consumer-tests",
    version: ENVELOPE_VERSION,
    data: data as Record<string, unknown>,
    metadata: {
      correlationId: randomUUID(),
      userId: null,
      ipAddress: null,
      userAgent: null,
      sessionId: null,
    },
  };
  return {
    topic: eventDefinition(type).topic,
    eventId,
    message: {
      key: recordKey(type, eventId, data),
      value: JSON.stringify(envelope),
      headers: { eventId, eventType: type, correlationId: envelope.metadata.correlationId },
    },
  };
}

/** A patient.created record for a new patient. */
export function patientCreatedRecord(patientId: string = randomUUID()): TestRecord {
  return eventRecord("patient.created", { patientId, userId: null });
}

/** The record sent to a chosen partition rather than its key's, to lay out a test's partitions exactly. */
export function onPartition(record: TestRecord, partition: number): TestRecord {
  return { ...record, message: { ...record.message, partition } };
}

/** Publishes the records in order (per partition), as an idempotent producer with acks=all. */
export async function publish(brokers: string[], records: readonly TestRecord[]): Promise<void> {
  const producer = createIdempotentProducer(createKafka({ brokers, clientId: "consumer-tests" }));
  await producer.connect();
  try {
    const byTopic = new Map<string, Message[]>();
    for (const record of records)
      byTopic.set(record.topic, [...(byTopic.get(record.topic) ?? []), record.message]);
    await producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
  } finally {
    await producer.disconnect();
  }
}

/**
 * Makes a new consumer group start at the current end of its topics, so a test's consumer reads exactly
 * the records the test publishes, not the history earlier runs left on the shared topics. What kafkajs's
 * admin.setOffsets does, with a short fetch wait instead of its 5 s.
 */
export async function startGroupAtEnd(brokers: string[], groupId: string, topics: readonly string[]) {
  const kafka = createKafka({ brokers, clientId: "consumer-tests" });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await Promise.all(
    topics.map(async (topic) => ({ topic, offsets: await admin.fetchTopicOffsets(topic) })),
  );
  await admin.disconnect();

  const consumer = createConsumer(kafka, { groupId, maxWaitTimeMs: 50 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      // Seeks are committed (autoCommit) on the next fetch; the first fetch after it is the signal to stop.
      consumer.on(consumer.events.FETCH, () => resolve());
      consumer.run({ eachBatchAutoResolve: false, eachBatch: async () => {} }).catch(reject);
      consumer.pause(topics.map((topic) => ({ topic })));
      for (const { topic, offsets } of ends) {
        for (const { partition, high } of offsets) consumer.seek({ topic, partition, offset: high });
      }
    });
  } finally {
    await consumer.disconnect();
  }
}

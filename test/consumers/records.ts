// Kafka records exactly as the relays publish them (the record contract of docs/architecture.md), built here so
// that consumer tests can also publish what a relay never would: the same record twice, or a broken one.
import { randomUUID } from "node:crypto";
import { type Database, writeTransaction } from "../../db/client.ts";
import { dataKeysForWriting } from "../../db/patientKeys.ts";
import { type TopicName, topicDefinition } from "../../events/catalog.ts";
import { exampleEvent } from "../../events/examples.ts";
import {
  ENVELOPE_VERSION,
  type Envelope,
  type EventData,
  type EventType,
  eventDefinition,
  parseEventData,
  readEnvelope,
  recordKey,
} from "../../events/index.ts";
import {
  createConsumer,
  createIdempotentProducer,
  createKafka,
  createTransactionalProducer,
  type Message,
} from "../../kafka/client.ts";
import { type Compression, compressionType } from "../../kafka/compression.ts";
import { partitionOfKey } from "../../kafka/keyPartitioner.ts";
import {
  assertPersonalDataSealed,
  isAnyFieldSealed,
  isMetadataSealed,
  keyOwner,
  PersonalDataInPlainText,
  sealPersonalFields,
  sealPersonalMetadata,
} from "../../phi/personalFields.ts";
import { testMasterKeys } from "../fixtures.ts";
import { commitToOutbox } from "./committedRecords.ts";

export interface TestRecord {
  topic: string;
  eventId: string;
  /** The event's data as its handler reads it: personal fields open, whatever `publish` sealed. */
  data?: Record<string, unknown>;
  message: Message & { key: string; value: string };
}

/**
 * A valid record of `type`: the example data with `overrides`, a fresh event id and the relay's headers. An
 * event about a patient is about a new one unless `overrides` name one: the example's patient would be every
 * test's, whose key one test's erasure would take from all the others.
 */
export function eventRecord<T extends EventType>(type: T, overrides: Partial<EventData<T>> = {}): TestRecord {
  const example = exampleEvent(type, overrides).data as Record<string, unknown>;
  if (typeof example.patientId === "string" && !("patientId" in overrides)) example.patientId = randomUUID();
  const data = parseEventData(type, example);
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
    data: envelope.data,
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

/** The id each aggregate id of a test's records became on a partition (onPartition): one for all its records. */
const rekeyed = new Map<string, string>();

/**
 * The record on `partition`, to lay out a test's partitions exactly. A consumer parks a record that is not on the
 * partition its key hashes to (`wrong-partition`), so the record's key, when its value holds it (its aggregate's
 * id, or on a topic keyed by event its event id), is replaced wherever the record holds it by an id that hashes
 * to `partition`: the same id for every record of that aggregate sent there. A record whose key its value does
 * not hold (a forged key, for a test of that) is sent there as it is.
 */
export function onPartition(record: TestRecord, partition: number): TestRecord {
  const placed = { ...record, message: { ...record.message, partition } };
  const key = record.message.key;
  const partitions = topicDefinition(record.topic as TopicName).partitions;
  if (key === null || !record.message.value.includes(key) || partitionOfKey(key, partitions) === partition)
    return placed;
  const memo = `${record.topic}/${partition}/${key}`;
  let id = rekeyed.get(memo);
  while (id === undefined || partitionOfKey(id, partitions) !== partition) id = randomUUID();
  rekeyed.set(memo, id);
  const swap = (text: string) => text.split(key).join(id);
  return {
    ...placed,
    eventId: swap(record.eventId),
    data: record.data && JSON.parse(swap(JSON.stringify(record.data))),
    message: {
      ...placed.message,
      key: id,
      value: swap(record.message.value),
      headers: Object.fromEntries(
        Object.entries(record.message.headers ?? {}).map(([name, value]) => [
          name,
          typeof value === "string" ? swap(value) : value,
        ]),
      ),
    },
  };
}

/**
 * Publishes the records in order (per partition), as an idempotent producer with acks=all. The personal data
 * of an event built in plain text is sealed first, as the write path seals it, under the patient's key in
 * `db` (made if they have none), and the record keeps the sealed value; its event is then committed to the
 * outbox with that value as its payload (commitToOutbox: the first record of an event id the outbox does not
 * hold yet): the record holds what a relay would have published. A value that is no envelope, or holds some
 * sealed value already, is sent as the test made it.
 */
export async function publish(
  brokers: string[],
  records: readonly TestRecord[],
  db: Database,
  options: SendOptions = {},
): Promise<void> {
  await sealPlainPersonalData(db, records);
  await commitToOutbox(db, records);
  await send(brokers, records, options);
}

/**
 * How the records are sent: compressed with a codec of another client's choice (else the producer's own); in a
 * Kafka transaction, as the polling relay sends them (its commit marker after the records).
 */
interface SendOptions {
  compression?: Compression | "snappy";
  transactional?: boolean;
}

/**
 * Publishes the records as `publish` does, sealed, but commits nothing: what someone with produce access to the
 * topic, and no transaction, can write. A consumer refuses such a record unless it is a copy of a committed event.
 */
export async function publishUncommitted(
  brokers: string[],
  records: readonly TestRecord[],
  db: Database,
): Promise<void> {
  await sealPlainPersonalData(db, records);
  await send(brokers, records);
}

async function send(
  brokers: string[],
  records: readonly TestRecord[],
  options: SendOptions = {},
): Promise<void> {
  const kafka = createKafka({ brokers, clientId: "consumer-tests" });
  const byTopic = new Map<string, Message[]>();
  for (const record of records)
    byTopic.set(record.topic, [...(byTopic.get(record.topic) ?? []), record.message]);
  const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
  if (options.transactional) {
    const producer = createTransactionalProducer(kafka, `consumer-tests-${randomUUID()}`);
    await producer.connect();
    await producer
      .transaction(async (transaction) => {
        await transaction.sendBatch({ acks: -1, topicMessages });
      })
      .finally(() => producer.disconnect());
    return;
  }
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    await producer.sendBatch({
      acks: -1,
      ...(options.compression && { compression: compressionType(options.compression) }),
      topicMessages,
    });
  } finally {
    await producer.disconnect();
  }
}

/**
 * Seals, in each record's value, the personal data of an event built in plain text, as `publish` does before it
 * sends them; the other records are left as they are.
 */
export async function sealPlainPersonalData(db: Database, records: readonly TestRecord[]): Promise<void> {
  const plain = records.flatMap((record) => {
    const envelope = plainEnvelopeOf(record.message.value);
    const owner = envelope && keyOwner(envelope.data);
    return envelope && owner ? [{ record, envelope, owner }] : [];
  });
  if (plain.length === 0) return;
  const keys = await writeTransaction(db, (tx) =>
    dataKeysForWriting(
      tx,
      plain.map(({ owner }) => owner),
      testMasterKeys,
    ),
  );
  for (const { record, envelope, owner } of plain) {
    const key = keys.get(owner) as Buffer;
    record.message.value = JSON.stringify({
      ...envelope,
      data: sealPersonalFields(envelope.eventType, envelope.eventId, envelope.data, key),
      metadata: sealPersonalMetadata(envelope.eventId, envelope.metadata, key),
    });
  }
}

/** The envelope in `value` if it is one whose personal data is all in plain text, and there is some. */
function plainEnvelopeOf(value: string): ReturnType<typeof readEnvelope> | null {
  let envelope: ReturnType<typeof readEnvelope>;
  try {
    envelope = readEnvelope(JSON.parse(value));
  } catch {
    return null;
  }
  const { eventType, data, metadata } = envelope;
  if (isAnyFieldSealed(eventType, data) || isMetadataSealed(metadata)) return null;
  try {
    assertPersonalDataSealed(eventType, data, metadata);
    return null;
  } catch (error) {
    if (error instanceof PersonalDataInPlainText) return envelope;
    throw error;
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

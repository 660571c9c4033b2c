// The one module that talks to Kafka: every producer, consumer and admin client of the project comes from here,
// so the client library (kafkajs today) can be swapped in one place.
import {
  type Consumer,
  Kafka,
  type KafkaConfig,
  logLevel,
  type Producer,
  type ProducerBatch,
  type RecordMetadata,
} from "kafkajs";
import { ConfigError, DEFAULT_KAFKA_COMPRESSION, loadKafkaSecurity } from "../config/env.ts";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";
import { type Compression, compressionType } from "./compression.ts";
import { transactionCoordinatorNamed } from "./errors.ts";
import {
  type PartitionLedger,
  recordingPartitioner,
  sendEveryPartitionAnswered,
} from "./everyPartitionAnswered.ts";
import { batchesPerLeader, type LeaderBook } from "./oneLeaderPerSend.ts";
import { kafkajsSecurity } from "./security.ts";

export type {
  Admin,
  Consumer,
  EachBatchPayload,
  IHeaders,
  KafkaMessage,
  Message,
  Producer,
  ProducerBatch,
  RecordMetadata,
} from "kafkajs";
export { COMPRESSIONS, type Compression } from "./compression.ts";
export { PartitionsNotAnswered } from "./everyPartitionAnswered.ts";
export { kafkaSecurityFailure } from "./security.ts";

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  /** Connection and request timeouts are short by default so that a broker outage is noticed quickly. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  retries?: number;
  /** TLS and SASL; unset, those of the environment (KAFKA_SSL*, KAFKA_SASL_*), so every client gets them. */
  security?: KafkaSecurity;
}

let environmentSecurity: KafkaSecurity | undefined;

/** The environment's security settings, read once; a bad variable stops the caller with a ConfigError. */
export function kafkaSecurityFromEnvironment(): KafkaSecurity {
  if (environmentSecurity === undefined) {
    const { security, problems } = loadKafkaSecurity(process.env);
    if (problems.length > 0) throw new ConfigError(problems);
    environmentSecurity = security;
  }
  return environmentSecurity;
}

export function createKafka(options: KafkaOptions): Kafka {
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers: options.brokers,
    ...kafkajsSecurity(options.security ?? kafkaSecurityFromEnvironment()),
    connectionTimeout: options.connectionTimeoutMs ?? 3_000,
    requestTimeout: options.requestTimeoutMs ?? 10_000,
    retry: { retries: options.retries ?? 5, initialRetryTime: 100, maxRetryTime: 2_000 },
    logLevel: logLevel.NOTHING,
  };
  return new Kafka(config);
}

/**
 * An idempotent producer (acks=all, one in-flight request per connection so that a retry can never reorder
 * a partition): the relay's guarantee of per-aggregate order rests on these settings. Its record batches are
 * compressed with `compression` (KAFKA_COMPRESSION) unless a send says otherwise. Each send is made one
 * partition leader at a time, and resolves only when every partition it wrote to has answered once
 * (kafka/oneLeaderPerSend.ts and kafka/everyPartitionAnswered.ts say why).
 */
export function createIdempotentProducer(
  kafka: Kafka,
  compression: Compression = DEFAULT_KAFKA_COMPRESSION,
): Producer {
  const sender = leaderByLeader(kafka, compression);
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: sender.partitioner,
  });
  return {
    ...producer,
    send: ({ topic, messages, ...options }) =>
      sender.sendBatch({ ...options, topicMessages: [{ topic, messages }] }, (part) =>
        producer.sendBatch(part),
      ),
    sendBatch: (batch) => sender.sendBatch(batch, (part) => producer.sendBatch(part)),
    async disconnect() {
      await sender.disconnect();
      await producer.disconnect();
    },
  };
}

/**
 * Sends a batch as one send per partition leader, made in turn, each checked for an answer from every partition
 * it wrote to. The producer places messages with `partitioner`, which notes where each went and each topic's
 * leaders; the leaders of a topic not sent to yet are read with an admin client, connected at first need.
 */
function leaderByLeader(kafka: Kafka, compression: Compression) {
  const ledger: PartitionLedger = new WeakMap();
  const leaders: LeaderBook = new Map();
  const codec = compressionType(compression);
  const admin = kafka.admin();
  let adminConnected: Promise<void> | undefined;
  const learnLeaders = async (batch: ProducerBatch) => {
    const unknown = [...new Set((batch.topicMessages ?? []).map(({ topic }) => topic))].filter(
      (topic) => !leaders.has(topic),
    );
    if (unknown.length === 0) return;
    adminConnected ??= admin.connect().catch((error: unknown) => {
      adminConnected = undefined;
      throw error;
    });
    await adminConnected;
    for (const { name, partitions } of (await admin.fetchTopicMetadata({ topics: unknown })).topics)
      leaders.set(name, partitions);
  };
  return {
    partitioner: recordingPartitioner(ledger, leaders),
    async sendBatch(
      batch: ProducerBatch,
      send: (toOneLeader: ProducerBatch) => Promise<RecordMetadata[]>,
    ): Promise<RecordMetadata[]> {
      await learnLeaders(batch);
      const answers: RecordMetadata[] = [];
      for (const toOneLeader of batchesPerLeader(batch, leaders))
        answers.push(
          ...(await sendEveryPartitionAnswered(ledger, { compression: codec, ...toOneLeader }, send)),
        );
      return answers;
    },
    async disconnect() {
      if (adminConnected === undefined) return;
      adminConnected = undefined;
      await admin.disconnect().catch(() => {});
    },
  };
}

/**
 * A producer that publishes in Kafka transactions under one `transactionalId`. Connecting registers that id
 * with its transaction coordinator, which fences every older producer of the same id: their sends and commits
 * fail from then on (INVALID_PRODUCER_EPOCH), and a transaction one of them left open is aborted, so a
 * read_committed consumer never sees it. Acks=all, idempotent, one request in flight, every partition of a
 * send answered, as above, and each send made one partition leader at a time (kafka/oneLeaderPerSend.ts says why).
 */
export interface TransactionalProducer {
  /** Connects and takes over the transactional id (fencing the producers that held it before). */
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  /**
   * Runs `work` in one transaction and commits it: what `work` sent becomes visible to read_committed
   * consumers all at once, or (on any failure, the commit's included) not at all.
   */
  transaction(work: (transaction: BatchSender) => Promise<void>): Promise<void>;
  /** kafkajs' instrumentation events (the requests it makes, with their timings). */
  readonly on: Producer["on"];
  readonly events: Producer["events"];
}

/** Whatever sends a batch of records: a producer, or one transaction of a transactional producer. */
export interface BatchSender {
  sendBatch(batch: ProducerBatch): Promise<unknown>;
}

const ABORT_WAIT_MS = 5_000;

/**
 * The transactional producer's retries start at 2 ms, not at the 100 ms of every other client. A transaction
 * begun right after the last one committed often reaches the coordinator before it has written that commit's
 * markers, and its AddPartitionsToTxn is answered CONCURRENT_TRANSACTIONS until it has, a few milliseconds later.
 * At 100 ms that wait was a large part of the relay's latency tail (back to back, two in three paid it); at 10 ms
 * it still was: 300 back-to-back transactions took p50 / p99 2.9-3.8 / 18-21 ms with 10, 2.7-3.0 / 11-13 ms with
 * 1 (docs/performance.md). The marker writes take a millisecond or two, so 2, 4, 8 ms asks little more often than
 * needed. Retries still double up to 2 s, and never stop, as kafkajs has an idempotent producer do.
 */
const TRANSACTIONAL_RETRY = { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 2, maxRetryTime: 2_000 };

export function createTransactionalProducer(
  kafka: Kafka,
  transactionalId: string,
  compression: Compression = DEFAULT_KAFKA_COMPRESSION,
): TransactionalProducer {
  const sender = leaderByLeader(kafka, compression);
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    transactionalId,
    createPartitioner: sender.partitioner,
    retry: TRANSACTIONAL_RETRY,
  });
  return {
    on: producer.on,
    events: producer.events,
    async connect() {
      await producer.connect();
      // kafkajs registers the transactional id (InitProducerId, which fences) at its first transaction only:
      // an empty one does it now, so that taking over fences before anything is read or sent.
      try {
        await (await producer.transaction()).commit();
      } catch (error) {
        throw transactionCoordinatorNamed(error, transactionalId);
      }
    },
    async disconnect() {
      await sender.disconnect();
      await producer.disconnect();
    },
    async transaction(work) {
      const transaction = await producer.transaction();
      try {
        await work({
          sendBatch: (batch) => sender.sendBatch(batch, (toOneLeader) => transaction.sendBatch(toOneLeader)),
        });
        await transaction.commit();
      } catch (error) {
        // Aborting now frees read_committed consumers at once (the next producer of this id would abort it
        // too, or the coordinator after transactionTimeout); bounded, as the broker may be the failure.
        if (transaction.isActive()) {
          const aborted = transaction.abort().catch(() => {});
          await Promise.race([aborted, new Promise((resolve) => setTimeout(resolve, ABORT_WAIT_MS).unref())]);
        }
        throw error;
      }
    },
  };
}

export interface ConsumerOptions {
  groupId: string;
  /** How long the group waits for a silent member (a killed process) before giving its partitions away. */
  sessionTimeoutMs?: number;
  /** The longest a fetch waits for new records; also how late a resumed partition is fetched again. */
  maxWaitTimeMs?: number;
}

/** A consumer group member; whoever runs it decides when offsets are committed. */
export function createConsumer(kafka: Kafka, options: ConsumerOptions): Consumer {
  const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
  return kafka.consumer({
    groupId: options.groupId,
    sessionTimeout,
    // Frequent heartbeats (Kafka's own clients use 3 s of 45 s) let the survivors learn of a rebalance soon.
    heartbeatInterval: Math.floor(sessionTimeout / 10),
    maxWaitTimeInMs: options.maxWaitTimeMs ?? 500,
    allowAutoTopicCreation: false,
  });
}

// The one module that talks to Kafka: every producer, consumer and admin client of the project comes from here,
// so the client library (kafkajs today) can be swapped in one place.
import { type Consumer, Kafka, type KafkaConfig, logLevel, type Producer } from "kafkajs";
import { ConfigError, DEFAULT_KAFKA_COMPRESSION, loadKafkaSecurity } from "../config/env.ts";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";
import { type Compression, compressionType } from "./compression.ts";
import { kafkajsSecurity } from "./security.ts";

export type {
  Admin,
  Consumer,
  EachBatchPayload,
  IHeaders,
  KafkaMessage,
  Message,
  Producer,
  RecordMetadata,
} from "kafkajs";
export { COMPRESSIONS, type Compression } from "./compression.ts";
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
 * compressed with `compression` (KAFKA_COMPRESSION) unless a send says otherwise.
 */
export function createIdempotentProducer(
  kafka: Kafka,
  compression: Compression = DEFAULT_KAFKA_COMPRESSION,
): Producer {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  const codec = compressionType(compression);
  return {
    ...producer,
    send: (record) => producer.send({ compression: codec, ...record }),
    sendBatch: (batch) => producer.sendBatch({ compression: codec, ...batch }),
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

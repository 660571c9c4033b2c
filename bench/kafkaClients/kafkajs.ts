// The project's own client (kafka/client.ts, kafkajs) on the benchmark's interface: the relay's publishBatch on
// the relay's producer, and a consumer from createConsumer with the settings every project consumer gets.
import { randomUUID } from "node:crypto";
import type { OutboxRecord } from "../../db/outbox/pendingOutboxBatch.ts";
import { createConsumer, createIdempotentProducer, createKafka } from "../../kafka/client.ts";
import { publishBatch } from "../../relay/publishBatch.ts";
import type { BenchClient } from "./client.ts";

export const kafkajsClient: BenchClient = {
  async publisher(brokers, compression) {
    const producer = createIdempotentProducer(
      createKafka({ brokers, clientId: "bench-kafkajs" }),
      compression,
    );
    await producer.connect();
    return {
      publish: (batch) =>
        publishBatch(
          producer,
          batch.map(
            (record): OutboxRecord => ({
              txId: "0",
              position: "0",
              eventId: record.headers.eventId as string,
              eventType: record.headers.eventType as string,
              topic: record.topic,
              key: record.key,
              value: record.value,
              correlationId: record.headers.correlationId as string,
              traceparent: null,
              tracestate: null,
              createdAtMs: 0,
            }),
          ),
        ),
      close: () => producer.disconnect(),
    };
  },

  async consume(brokers, topic, count, onRecord) {
    const consumer = createConsumer(createKafka({ brokers, clientId: "bench-kafkajs" }), {
      groupId: `bench-kafka-clients-${randomUUID()}`,
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let seen = 0;
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          eachBatch: async ({ batch, resolveOffset }) => {
            for (const message of batch.messages) {
              onRecord(JSON.parse(String(message.value)));
              resolveOffset(message.offset);
              if (++seen === count) resolve();
            }
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
  },
};

// @platformatic/kafka (a devDependency, used by this benchmark only) on the benchmark's interface, configured
// as kafka/client.ts configures kafkajs: idempotent (which forces one request in flight), acks=all, no topic
// auto-creation, the same timeouts, and string (de)serialisers so that it hands over what kafkajs users read.
import { randomUUID } from "node:crypto";
import { Consumer, Producer, stringDeserializers, stringSerializers } from "@platformatic/kafka";
import type { BenchClient } from "./client.ts";

const connection = { clientId: "bench-platformatic", connectTimeout: 3_000, timeout: 10_000, retries: 5 };

export const platformaticClient: BenchClient = {
  async publisher(brokers, compression) {
    const producer = new Producer({
      ...connection,
      bootstrapBrokers: brokers,
      idempotent: true,
      acks: -1,
      compression,
      autocreateTopics: false,
      serializers: stringSerializers,
    });
    return {
      publish: async (batch) => {
        await producer.send({
          messages: batch.map((record) => ({
            topic: record.topic,
            key: record.key,
            value: record.value,
            headers: record.headers,
          })),
        });
      },
      close: () => producer.close(),
    };
  },

  async consume(brokers, topic, count, onRecord) {
    const consumer = new Consumer({
      ...connection,
      bootstrapBrokers: brokers,
      groupId: `bench-kafka-clients-${randomUUID()}`,
      // kafka/client.ts's consumer settings: 30 s session, heartbeats every tenth of it, fetches wait 500 ms.
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      maxWaitTime: 500,
      autocreateTopics: false,
      deserializers: stringDeserializers,
    });
    const stream = await consumer.consume({ topics: [topic], mode: "earliest", autocommit: true });
    let seen = 0;
    for await (const message of stream) {
      onRecord(JSON.parse(message.value));
      if (++seen === count) break;
    }
    await stream.close().catch(() => {});
    await consumer.close(true);
  },
};

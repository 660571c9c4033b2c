// Reads back what a dead-letter topic received after a point in the test: its end offsets when tapped.

import { readTopicRange } from "../../consumers/deadLetters/readTopicRange.ts";
import { type DeadLetter, readDeadLetter } from "../../consumers/runtime/deadLetters.ts";
import { type DeadLetterTopicName, deadLetterTopicName, type TopicName } from "../../events/index.ts";
import { createKafka, type KafkaMessage } from "../../kafka/client.ts";

export interface DeadLetterTap {
  /** Every dead letter written since the tap was opened, with its record. */
  read(): Promise<Array<{ letter: DeadLetter; message: KafkaMessage }>>;
}

export async function tapDeadLetters(brokers: string[], topic: TopicName): Promise<DeadLetterTap> {
  const dlqTopic: DeadLetterTopicName = deadLetterTopicName(topic);
  const kafka = createKafka({ brokers, clientId: "consumer-tests" });
  const ends = async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(dlqTopic);
      return new Map(offsets.map(({ partition, high }) => [partition, BigInt(high)]));
    } finally {
      await admin.disconnect();
    }
  };
  const from = await ends();
  return {
    async read() {
      const records = await readTopicRange(kafka, dlqTopic, from, await ends());
      return records.map(({ partition, message }) => ({
        letter: readDeadLetter(dlqTopic, partition, message),
        message,
      }));
    },
  };
}

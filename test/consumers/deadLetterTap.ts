// Reads back what a dead-letter topic received after a point in the test (a topic tap), as dead letters.

import { type DeadLetter, readDeadLetter } from "../../consumers/runtime/deadLetters.ts";
import { deadLetterTopicName, type TopicName } from "../../events/index.ts";
import type { KafkaMessage } from "../../kafka/client.ts";
import { tapTopic } from "../kafkaTap.ts";

export interface DeadLetterTap {
  /** Every dead letter written since the tap was opened, with its record. */
  read(): Promise<Array<{ letter: DeadLetter; message: KafkaMessage }>>;
}

export async function tapDeadLetters(brokers: string[], topic: TopicName): Promise<DeadLetterTap> {
  const dlqTopic = deadLetterTopicName(topic);
  const tap = await tapTopic(brokers, dlqTopic);
  return {
    async read() {
      return (await tap.read()).map(({ partition, message }) => ({
        letter: readDeadLetter(dlqTopic, partition, message),
        message,
      }));
    },
  };
}

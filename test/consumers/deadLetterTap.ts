// Reads back what a dead-letter topic received after a point in the test (a topic tap), as dead letters.

import { type DeadLetter, readDeadLetter } from "../../consumers/runtime/deadLetters.ts";
import { deadLetterTopicName, type TopicName } from "../../events/index.ts";
import type { KafkaMessage } from "../../kafka/client.ts";
import { tapTopic } from "../kafkaTap.ts";

export interface DeadLetterTap {
  /**
   * Every dead letter that consumer `consumer` wrote since the tap was opened, with its record: the topic is the
   * platform's own, where other tests' consumers park theirs too.
   */
  parkedBy(consumer: string): Promise<Array<{ letter: DeadLetter; message: KafkaMessage }>>;
}

export async function tapDeadLetters(brokers: string[], topic: TopicName): Promise<DeadLetterTap> {
  const dlqTopic = deadLetterTopicName(topic);
  const tap = await tapTopic(brokers, dlqTopic);
  return {
    async parkedBy(consumer) {
      return (await tap.read())
        .map(({ partition, message }) => ({ letter: readDeadLetter(dlqTopic, partition, message), message }))
        .filter(({ letter }) => letter.consumer === consumer);
    },
  };
}

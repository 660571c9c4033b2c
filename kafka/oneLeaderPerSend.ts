// Every producer's sends go to one partition leader at a time.
//
// kafkajs (2.2.4, src/producer/sendMessages.js) sends one Produce request per leader of the batch, all at once,
// and when one of them fails with a retriable error it retries the send at once, asking again every broker whose
// answer it has not yet received: also a broker whose request is still in flight. That broker then gets the
// records a second time, with the next sequence numbers (kafkajs advanced them for the first request), so it
// appends them as new records; kafkajs keeps only the second answer, and the send looks clean to
// kafka/everyPartitionAnswered.ts. Inside a transaction this happens on most batches of a cluster: kafkajs
// registers each leader's partitions with the transaction coordinator in a request of its own (AddPartitionsToTxn),
// all at once, and the coordinator refuses those that overlap with CONCURRENT_TRANSACTIONS. The relay's
// per-aggregate test found 6 to 206 of 1,050 events twice within one committed transaction on three brokers.
// Outside a transaction (replay, the dead-letter queue, redrive) the same retry follows any retriable answer of
// one leader (NOT_LEADER while a partition moves, a timeout), and the records are written twice just the same.
//
// A send to one leader has no other request in flight when it fails: kafkajs' retry asks that broker again with
// the same sequence numbers, which the broker recognises. So each send is cut into one send per leader, made in
// turn, every partition's records staying together and in order. The leaders are those kafkajs' partitioner last
// saw (kafkajs refreshes them after a NOT_LEADER answer), or the admin client's for a topic not yet sent to.
import type { Message, PartitionMetadata, ProducerBatch } from "kafkajs";
import { keyPartitioner } from "./keyPartitioner.ts";

/** Each topic's partitions and their leaders, as last seen. */
export type LeaderBook = Map<string, PartitionMetadata[]>;

/**
 * `batch` as one batch per partition leader, each topic's messages kept in their order. A message the partitioner
 * places by a round-robin counter (no key and no partition) cannot be placed in advance: those go in a batch of
 * their own, last.
 */
export function batchesPerLeader(batch: ProducerBatch, leaders: LeaderBook): ProducerBatch[] {
  const { topicMessages = [], ...options } = batch;
  const place = keyPartitioner();
  const perLeader = new Map<number | "unplaced", Map<string, Message[]>>();
  for (const { topic, messages } of topicMessages) {
    const partitionMetadata = leaders.get(topic) ?? [];
    for (const message of messages) {
      const placeable = partitionMetadata.length > 0 && (message.key != null || message.partition != null);
      const partition = placeable ? place({ topic, partitionMetadata, message }) : undefined;
      const leader = partitionMetadata.find((metadata) => metadata.partitionId === partition)?.leader;
      const group = leader ?? "unplaced";
      const topics = perLeader.get(group) ?? new Map<string, Message[]>();
      perLeader.set(group, topics);
      const ofTopic = topics.get(topic) ?? [];
      topics.set(topic, ofTopic);
      ofTopic.push(message);
    }
  }
  const unplaced = perLeader.get("unplaced");
  perLeader.delete("unplaced");
  return [...perLeader.values(), ...(unplaced ? [unplaced] : [])].map((topics) => ({
    ...options,
    topicMessages: [...topics].map(([topic, messages]) => ({ topic, messages })),
  }));
}

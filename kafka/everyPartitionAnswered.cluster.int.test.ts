// kafkajs' lost retry, caused on purpose on a three-broker cluster: one broker is frozen (SIGSTOP) while a
// transaction's send waits on it, the controller fences it and gives its partitions to the two brokers that
// have answered meanwhile, and it is killed; kafkajs then retries the send against brokers it counts as done,
// so the frozen broker's partitions are never written. Our producer must fail that send (PartitionsNotAnswered)
// or, had it resolved, have written every record of it.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import {
  describeKafkaCluster,
  kafkaNodePid,
  kafkaNodePort,
  killKafkaNode,
  startKafkaNode,
} from "../stack/kafka.ts";
import { eventually, kafkaBrokers } from "../test/fixtures.ts";
import { ownCluster } from "../test/kafkaCluster.ts";
import {
  type Admin,
  createKafka,
  createTransactionalProducer,
  type Message,
  PartitionsNotAnswered,
} from "./client.ts";
import { readTopicRange } from "./readTopicRange.ts";

const PARTITIONS = 6;
const RECORDS_PER_PARTITION = 10;
/** Longer than the freeze lasts (the fencing takes broker.session.timeout.ms, 9 s, plus a busy machine's delays). */
const REQUEST_TIMEOUT_MS = 90_000;
/** After the partitions moved, time for the survivors' answers (held back by acks=all until then) to arrive. */
const ANSWERS_MARGIN_MS = 3_000;

const topic = `every-partition-answered-${randomUUID()}`;
let cleanup: Admin | undefined;
afterAll(async () => {
  await cleanup?.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await cleanup?.disconnect();
});

/** Java's String.hashCode, which places a transactional id on a partition of __transaction_state. */
function javaHashCode(text: string): number {
  let hash = 0;
  for (let index = 0; index < text.length; index++) hash = (Math.imul(hash, 31) + text.charCodeAt(index)) | 0;
  return hash;
}

/** node.id of the leader of each partition of `name`, by partition. */
async function leaders(admin: Admin, name: string): Promise<Map<number, number>> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [name] });
  return new Map(topics[0]?.partitions.map((partition) => [partition.partitionId, partition.leader]));
}

describe("a send whose partitions move to brokers that have already answered", () => {
  it("fails with PartitionsNotAnswered or writes every record, when a broker is frozen, fenced and killed during it", async ({
    annotate,
  }) => {
    const cluster = ownCluster();
    const nodeIds = [1, 2, 3];
    const admin = createKafka({ brokers: kafkaBrokers(), clientId: "every-partition-answered" }).admin();
    cleanup = admin;
    await admin.connect();
    // Partition p is led by node p % 3 + 1, with the two others as followers: the send spans all three brokers.
    await admin.createTopics({
      topics: [
        {
          topic,
          replicaAssignment: Array.from({ length: PARTITIONS }, (_, partition) => ({
            partition,
            replicas: [0, 1, 2].map((shift) => ((partition + shift) % 3) + 1),
          })),
        },
      ],
      waitForLeaders: true,
    });
    await eventually(async () =>
      [...(await leaders(admin, topic)).entries()].every(
        ([partition, leader]) => leader === (partition % 3) + 1,
      ),
    );

    const kafka = createKafka({
      brokers: kafkaBrokers(),
      clientId: "every-partition-answered",
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    const transactionalId = `every-partition-answered-${randomUUID()}`;
    const producer = createTransactionalProducer(kafka, transactionalId);
    await producer.connect();

    // The victim is neither the active controller (its loss would add an election) nor our transaction
    // coordinator (the commit or the abort must reach it).
    const controller = (await describeKafkaCluster(cluster)).controllerLeader;
    const transactionLeaders = await leaders(admin, "__transaction_state");
    const coordinator = transactionLeaders.get(
      (javaHashCode(transactionalId) & 0x7fffffff) % transactionLeaders.size,
    );
    const victimId = nodeIds.find((id) => id !== controller && id !== coordinator) as number;
    const victim = victimId - 1;
    const survivors = createKafka({
      brokers: nodeIds
        .filter((id) => id !== victimId)
        .map((id) => `localhost:${kafkaNodePort(id - 1, cluster)}`),
      clientId: "every-partition-answered-survivors",
    }).admin();
    await survivors.connect();

    const run = randomUUID();
    const batch: Message[] = Array.from({ length: PARTITIONS * RECORDS_PER_PARTITION }, (_, index) => ({
      partition: index % PARTITIONS,
      value: `${run}:${index}`,
    }));
    const victimPartitions = Array.from({ length: PARTITIONS }, (_, partition) => partition).filter(
      (partition) => (partition % 3) + 1 === victimId,
    );

    let frozen: number | undefined;
    let killed = false;
    let outcome: { sent: true } | { sent: false; error: unknown };
    try {
      outcome = await producer
        .transaction(async (transaction) => {
          // One record on each partition first, while all brokers answer: the producer connects to the three
          // brokers and adds every partition to the transaction, so the send below asks nothing else of them.
          await transaction.sendBatch({
            topicMessages: [
              {
                topic,
                messages: Array.from({ length: PARTITIONS }, (_, partition) => ({
                  partition,
                  value: `${run}:warm-up`,
                })),
              },
            ],
          });
          frozen = await kafkaNodePid(victim, cluster);
          if (frozen === undefined) throw new Error(`Kafka node ${victim} does not run`);
          process.kill(frozen, "SIGSTOP");
          const sent = transaction.sendBatch({ topicMessages: [{ topic, messages: batch }] }).then(
            () => undefined,
            (error: unknown) => error,
          );
          // The frozen broker's session times out: the controller fences it, shrinks every ISR it was in (which
          // frees the survivors' acks=all answers) and makes the survivors the leaders of its partitions.
          await eventually(async () => {
            const now = await leaders(survivors, topic).catch(() => undefined);
            return (
              now !== undefined && victimPartitions.every((partition) => now.get(partition) !== victimId)
            );
          }, 120_000);
          await sleep(ANSWERS_MARGIN_MS);
          // Killed, its connection closes: kafkajs refreshes its metadata and retries the request it sent there.
          await killKafkaNode(victim, cluster);
          killed = true;
          const error = await sent;
          if (error !== undefined) throw error;
        })
        .then(
          () => ({ sent: true as const }),
          (error: unknown) => ({ sent: false as const, error }),
        );
    } finally {
      if (frozen !== undefined && !killed) await killKafkaNode(victim, cluster);
      await producer.disconnect().catch(() => undefined);
      await survivors.disconnect();
      if (frozen !== undefined) await startKafkaNode(victim, cluster);
    }

    const ends = await admin.fetchTopicOffsets(topic);
    const written = await readTopicRange(
      kafka,
      topic,
      new Map(ends.map(({ partition }) => [partition, 0n])),
      new Map(ends.map(({ partition, offset }) => [partition, BigInt(offset)])),
      90_000,
    );
    const readBack = new Set(written.map((record) => record.message.value?.toString()));
    const values = batch.map((message) => message.value);
    if (outcome.sent) {
      await annotate("the send resolved: every record must be readable");
      expect(values.filter((value) => !readBack.has(value as string))).toEqual([]);
    } else {
      await annotate(`the send failed: ${String(outcome.error)}`);
      expect(outcome.error).toBeInstanceOf(PartitionsNotAnswered);
      // The transaction was aborted: nothing of it, the warm-up included, is readable.
      expect(written.filter((record) => record.message.value?.toString().startsWith(run))).toEqual([]);
    }
    await eventually(
      async () => (await describeKafkaCluster(cluster)).underReplicatedPartitions === 0,
      120_000,
    );
  });
});

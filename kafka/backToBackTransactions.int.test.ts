// Transactions back to back, as the relay makes them under load: the next one's AddPartitionsToTxn often reaches
// the coordinator before it has written the last commit's markers, and is answered CONCURRENT_TRANSACTIONS. The
// transactional producer asks again within milliseconds (kafka/client.ts, TRANSACTIONAL_RETRY), where kafkajs'
// default would wait 80–120 ms each time, and every transaction still commits all its records.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, kafkaBrokers } from "../test/fixtures.ts";
import { type Admin, createKafka, createTransactionalProducer } from "./client.ts";
import { readTopicRange } from "./readTopicRange.ts";

const PARTITIONS = 3;
const RECORDS_PER_TRANSACTION = 6;
/** Enough answers of CONCURRENT_TRANSACTIONS to judge the retries by; back to back, most runs get them in 50. */
const RETRIES_WANTED = 10;
const MAX_TRANSACTIONS = 600;

const topic = `back-to-back-transactions-${randomUUID()}`;
const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "back-to-back-transactions" });
let admin: Admin;

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
});
afterAll(async () => {
  await admin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin?.disconnect();
});

interface Request {
  transaction: number;
  sentAt: number;
  answeredAt: number;
}

describe("a transactional producer's transactions back to back", () => {
  it("asks again for partitions within milliseconds while the last commit's markers are written", async () => {
    const producer = createTransactionalProducer(kafka, `back-to-back-${randomUUID()}`);
    let transaction = 0;
    const addPartitions: Request[] = [];
    producer.on(producer.events.REQUEST, ({ payload }) => {
      if (payload.apiName === "AddPartitionsToTxn")
        addPartitions.push({
          transaction,
          sentAt: payload.sentAt,
          answeredAt: payload.sentAt + payload.duration,
        });
    });
    const retried = () => addPartitions.length - transaction;
    await producer.connect();
    try {
      while (retried() < RETRIES_WANTED && transaction < MAX_TRANSACTIONS) {
        transaction++;
        await producer.transaction(async (sender) => {
          await sender.sendBatch({
            acks: -1,
            topicMessages: [
              {
                topic,
                messages: Array.from({ length: RECORDS_PER_TRANSACTION }, (_, index) => ({
                  key: `aggregate-${index}`,
                  value: `${transaction}/${index}`,
                })),
              },
            ],
          });
        });
      }
    } finally {
      await producer.disconnect();
    }

    // Every request after the first of its transaction is a retry: the time from the answer that refused it
    // to the next ask is the wait (plus the metadata refresh kafkajs makes in between).
    const waits: number[] = [];
    for (let index = 1; index < addPartitions.length; index++) {
      const [before, after] = [addPartitions[index - 1], addPartitions[index]] as [Request, Request];
      if (after.transaction === before.transaction) waits.push(after.sentAt - before.answeredAt);
    }
    expect(waits.length, `retries in ${transaction} transactions`).toBeGreaterThanOrEqual(RETRIES_WANTED);
    // kafkajs' default first wait is 80–120 ms; the median ask comes far sooner (the bound leaves room for a busy
    // machine's late timers and metadata round trips).
    const median = [...waits].sort((a, b) => a - b)[Math.floor(waits.length / 2)] as number;
    expect(median).toBeLessThan(50);

    // None of those refusals cost a record: every transaction's records are committed, once each. The topic's
    // end as listed (its last stable offset) reaches the last transaction's records on a partition only once the
    // coordinator has written that commit's marker there, which it does after answering the commit: so the end
    // is listed, and the topic read up to it, again until that has happened everywhere.
    const written = transaction * RECORDS_PER_TRANSACTION;
    const stored = await eventually(async () => {
      const ends = new Map(
        (await admin.fetchTopicOffsets(topic)).map(({ partition, offset }) => [partition, BigInt(offset)]),
      );
      const read = await readTopicRange(kafka, topic, new Map(), ends);
      return read.length >= written && read;
    }, 15_000);
    expect(stored).toHaveLength(written);
    expect(new Set(stored.map(({ message }) => message.value?.toString())).size).toBe(written);
  });
});

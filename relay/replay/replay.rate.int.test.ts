// `--rate`: a replay sends a tenth of a second's worth of events at a time and starts each send only once the
// events before it are within the rate, counted on a clock the test moves; the records arrive complete and in
// order.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdempotentProducer, createKafka } from "../../kafka/client.ts";
import { kafkaBrokers, testDatabase } from "../../test/fixtures.ts";
import { tapTopic } from "../../test/kafkaTap.ts";
import { createServedTopic } from "../../test/kafkaTopics.ts";
import { patientHistory } from "../../test/replayCommand.ts";
import { type Clock, ratePacer } from "./ratePacer.ts";
import { planReplay, replayHistory } from "./replayHistory.ts";

const db = testDatabase();
const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "replay-rate-test" });
const admin = kafka.admin();
const producer = createIdempotentProducer(kafka);
const target = `replay-rate-${randomUUID()}`;
beforeAll(async () => {
  await Promise.all([admin.connect(), producer.connect()]);
  // One partition: the whole replay's order is the topic's order.
  await createServedTopic(admin, target, 1);
});
afterAll(async () => {
  await admin.deleteTopics({ topics: [target] }).catch(() => {});
  await Promise.all([admin.disconnect(), producer.disconnect()]);
  await db.$client.end();
});

describe("a replay with a rate limit", () => {
  it("sends at most rate·t events by each moment t, in the relay's order", async () => {
    const { patientId, eventIds } = await patientHistory(db, { updates: 24 });
    let now = 0;
    const clock: Clock = {
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    };
    const rate = 40;
    const tap = await tapTopic(kafkaBrokers(), target);
    const sends: Array<{ at: number; size: number }> = [];
    const client = await db.$client.connect();
    try {
      const planning = await planReplay(client, admin, {
        filter: { aggregate: { type: "patient", id: patientId } },
        toTopic: target,
        ratePerSecond: rate,
      });
      if (planning.outcome !== "planned") throw new Error(planning.reason);
      await replayHistory(client, producer, admin, planning.plan, {
        pacer: ratePacer(rate, clock),
        onSent: (rows) => sends.push({ at: now, size: rows.length }),
      });
    } finally {
      client.release();
    }

    // 25 events at 40/s: sends of 4 (a tenth of a second's worth), the last one of the remaining 1.
    expect(sends.map((send) => send.size)).toEqual([4, 4, 4, 4, 4, 4, 1]);
    let before = 0;
    for (const send of sends) {
      expect(before, `events sent before ${send.at} ms`).toBeLessThanOrEqual((rate * send.at) / 1000 + 1e-9);
      before += send.size;
    }
    expect(now).toBeCloseTo((24 / rate) * 1000, 6);
    expect((await tap.read()).map(({ message }) => JSON.parse(String(message.value)).eventId)).toEqual(
      eventIds,
    );
  });
});

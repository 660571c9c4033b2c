// `npm run audit:archive` run while a replay is under way deletes rows the replay planned and has not read
// yet. The replay must not then report success for fewer events than it planned and recorded: it fails,
// saying how many it sent and how many were gone when it came to read them.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdempotentProducer, createKafka } from "../../kafka/client.ts";
import { freshDatabases, historyToArchive } from "../../test/auditHistories.ts";
import { kafkaBrokers } from "../../test/fixtures.ts";
import { tapTopic } from "../../test/kafkaTap.ts";
import { createServedTopic } from "../../test/kafkaTopics.ts";
import type { RatePacer } from "./ratePacer.ts";
import { planReplay, replayHistory } from "./replayHistory.ts";

const databases = freshDatabases("replay_archived");
const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "replay-archived-meanwhile-test" });
const admin = kafka.admin();
const producer = createIdempotentProducer(kafka);
const target = `replay-archived-${randomUUID()}`;
beforeAll(async () => {
  await databases.setUp();
  await Promise.all([admin.connect(), producer.connect()]);
  await createServedTopic(admin, target, 1);
});
afterAll(async () => {
  await admin.deleteTopics({ topics: [target] }).catch(() => {});
  await Promise.all([admin.disconnect(), producer.disconnect()]);
  await databases.tearDown();
});

describe("a replay during which an archive deletes rows it planned", () => {
  it("fails, saying how many of the planned events it sent and how many it no longer found", async () => {
    const archiving = await historyToArchive(await databases.create());
    const client = await archiving.history.db.$client.connect();
    const tap = await tapTopic(kafkaBrokers(), target);
    try {
      const planning = await planReplay(client, admin, {
        filter: { fromPosition: archiving.position(0) },
        toTopic: target,
        ratePerSecond: null,
      });
      if (planning.outcome !== "planned") throw new Error(planning.reason);
      expect(planning.plan.events).toBe(35);
      // One event a send; the archive runs before the second send, as an operator's would, from another session.
      let sends = 0;
      const pacer: RatePacer = {
        sendSize: 1,
        beforeSend: async () => {
          sends++;
          if (sends === 2) await archiving.archive({ now: archiving.longAfter() });
        },
      };

      const replaying = replayHistory(client, producer, admin, planning.plan, { pacer, pageSize: 5 });

      await expect(replaying).rejects.toThrow(
        "the replay sent 20 of the 35 events it planned: 15 were no longer in the outbox when it came to read them",
      );
      // The archive took the first 20 rows: 5 had been read (the first page), 15 were gone.
      expect(await archiving.remaining()).toHaveLength(15);
      expect(await tap.read()).toHaveLength(20);
    } finally {
      client.release();
      await archiving.close();
    }
  });
});

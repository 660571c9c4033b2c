// The sweeps run as soon as a process that owns them starts, not one interval later: a service run on its own
// (outside `npm start`) removes expired idempotency keys, the consumers' process removes outlived inbox
// entries (before it reaches Kafka), and each logs what it removed.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { consumerInbox, idempotencyKeys } from "../db/schema.ts";
import { type ScriptProcess, spawnScript } from "../test/childProcess.ts";
import { testDatabase } from "../test/fixtures.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

async function stopped(script: ScriptProcess): Promise<void> {
  script.child.kill("SIGTERM");
  await script.exited;
}

describe("sweeps at start", () => {
  it("a service run on its own removes expired idempotency keys when it starts", async () => {
    const key = randomUUID();
    await db.insert(idempotencyKeys).values({
      principalId: randomUUID(),
      key,
      requestFingerprint: "fingerprint",
      createdAt: new Date(Date.now() - 25 * 3_600_000),
    });
    const service = spawnScript("apps/provider/main.ts", { env: { PORT: "0", LOG_LEVEL: "info" } });
    try {
      await service.printed(/"removed":\d+,"msg":"expired idempotency keys removed"/);
      const left = await db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, key));
      expect(left).toEqual([]);
    } finally {
      await stopped(service);
    }
  });

  it("the consumers' process removes outlived inbox entries when it starts", async () => {
    const consumer = `outlived-${randomUUID()}`;
    await db.insert(consumerInbox).values({
      consumer,
      eventId: randomUUID(),
      eventType: "patient.created",
      topic: "patient-events",
      kafkaPartition: 0,
      kafkaOffset: 0n,
      processedAt: new Date(Date.now() - 100 * 86_400_000),
    });
    // A broker that does not answer: the sweep runs before the consumers join their groups, and the test
    // consumes nothing of the shared topics (the real group would read, and dead-letter, others' records).
    const consumers = spawnScript("consumers/main.ts", {
      env: { PORT: "0", LOG_LEVEL: "info", CONSUMERS: "patient-directory", KAFKA_BROKERS: "127.0.0.1:1" },
    });
    try {
      await consumers.printed(/"removed":\d+,"msg":"outlived inbox entries removed"/);
      const left = await db.execute(sql`SELECT 1 FROM consumer_inbox WHERE consumer = ${consumer}`);
      expect(left.rowCount).toBe(0);
    } finally {
      await stopped(consumers);
    }
    expect(await db.select().from(consumerInbox).where(eq(consumerInbox.consumer, consumer))).toEqual([]);
  });
});

// Sweeps run by several processes at once: each expired row is removed exactly once, none is left, and a
// process that finds another one sweeping skips its round (null) rather than waiting or failing.
import { randomUUID } from "node:crypto";
import { inArray, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { forgetExpiredKeys } from "../apps/http/idempotencyKeys.ts";
import { forgetOutlivedInboxEntries } from "../consumers/runtime/inbox.ts";
import { testDatabase } from "../test/fixtures.ts";
import { consumerInbox, idempotencyKeys } from "./schema.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

async function expiredKeys(count: number): Promise<string[]> {
  const keys = Array.from({ length: count }, () => randomUUID());
  await db.insert(idempotencyKeys).values(
    keys.map((key) => ({
      principalId: randomUUID(),
      key,
      requestFingerprint: "fingerprint",
      createdAt: new Date(Date.now() - 25 * 3_600_000),
    })),
  );
  return keys;
}

const keysLeft = async (keys: string[]) =>
  (await db.select().from(idempotencyKeys).where(inArray(idempotencyKeys.key, keys))).length;

describe("sweeping from several processes", () => {
  it("removes every expired idempotency key once, whichever sweeper gets to it", async () => {
    const keys = await expiredKeys(200);
    const rounds = await Promise.all(Array.from({ length: 4 }, () => forgetExpiredKeys(db)));
    const swept = rounds.filter((removed) => removed !== null);
    expect(swept.length).toBeGreaterThanOrEqual(1);
    // Keys other tests left expired may be swept too; these 200 are all gone, each counted once.
    expect(swept.reduce((sum, removed) => sum + (removed ?? 0), 0)).toBeGreaterThanOrEqual(keys.length);
    expect(await keysLeft(keys)).toBe(0);
  });

  it("skips a round while another process holds the sweep, and sweeps once it is done", async () => {
    const keys = await expiredKeys(3);
    const other = await db.$client.connect();
    try {
      await other.query("BEGIN");
      await other.query("SELECT pg_advisory_xact_lock(hashtext('sweep:idempotency-keys'))");
      expect(await forgetExpiredKeys(db)).toBeNull();
      expect(await keysLeft(keys)).toBe(3);
      // The inbox sweep is another lock: it is not held up.
      expect(await forgetOutlivedInboxEntries(db)).not.toBeNull();
      await other.query("COMMIT");
    } finally {
      other.release();
    }
    expect(await forgetExpiredKeys(db)).toBeGreaterThanOrEqual(3);
    expect(await keysLeft(keys)).toBe(0);
  });

  it("removes every outlived inbox entry once, whichever sweeper gets to it", async () => {
    const consumer = `sweep-${randomUUID()}`;
    await db.insert(consumerInbox).values(
      Array.from({ length: 100 }, (_, offset) => ({
        consumer,
        eventId: randomUUID(),
        eventType: "patient.created",
        topic: "patient-events",
        kafkaPartition: 0,
        kafkaOffset: BigInt(offset),
        processedAt: new Date(Date.now() - 100 * 86_400_000),
      })),
    );
    const rounds = await Promise.all(Array.from({ length: 4 }, () => forgetOutlivedInboxEntries(db)));
    expect(rounds.some((removed) => removed !== null)).toBe(true);
    const left = await db.execute(sql`SELECT 1 FROM consumer_inbox WHERE consumer = ${consumer}`);
    expect(left.rowCount).toBe(0);
  });
});

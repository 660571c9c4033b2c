// The watch's housekeeping forgets what no window can count any more, measured from its newest observation,
// and keeps every principal whose alert window is still open. Each case runs in a transaction that is rolled
// back, so the other files' observations in the shared database are left as they were.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../test/fixtures.ts";
import { type RolledBackTransaction, rolledBack as rolledBackIn } from "../../test/rolledBack.ts";
import { forgetPastObservations } from "./watchStore.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

const HOUR = 3_600;
type Transaction = RolledBackTransaction;
const rolledBack = (work: (tx: Transaction) => Promise<void>) => rolledBackIn(db, work);

/** Far past anything another file records, so these are the newest observations while the case runs. */
const NEWEST = Date.parse("2999-01-01T12:00:00Z");
const hoursBefore = (hours: number) => new Date(NEWEST - hours * HOUR * 1000).toISOString();

async function observe(tx: Transaction, subject: string, occurredAt: string): Promise<string> {
  const eventId = randomUUID();
  await tx.execute(sql`
    INSERT INTO compliance_watch_observations (rule, subject, event_id, occurred_at, counted)
    VALUES ('repeated-refusals', ${subject}, ${eventId}, ${occurredAt}::timestamptz, ${eventId})`);
  return eventId;
}

async function principal(tx: Transaction, subject: string, alertedUntil: string | null) {
  await tx.execute(sql`
    INSERT INTO compliance_watch_subjects (rule, subject, observations, alerted_until)
    VALUES ('repeated-refusals', ${subject}, 1, ${alertedUntil}::timestamptz)`);
}

async function observationsOf(tx: Transaction, subject: string): Promise<string[]> {
  const { rows } = await tx.execute<{ event_id: string }>(sql`
    SELECT event_id FROM compliance_watch_observations WHERE subject = ${subject} ORDER BY occurred_at`);
  return rows.map((row) => row.event_id);
}

async function principalsAmong(tx: Transaction, subjects: string[]): Promise<string[]> {
  const { rows } = await tx.execute<{ subject: string }>(sql`
    SELECT subject FROM compliance_watch_subjects WHERE subject IN ${subjects} ORDER BY subject`);
  return rows.map((row) => row.subject);
}

describe("forgetting past compliance watch observations", () => {
  it("removes observations more than two windows older than the newest one, and keeps the rest", async () => {
    await rolledBack(async (tx) => {
      const subject = randomUUID();
      await observe(tx, subject, hoursBefore(3));
      const within = await observe(tx, subject, hoursBefore(1.5));
      const newest = await observe(tx, subject, hoursBefore(0));

      expect(await forgetPastObservations(tx, HOUR)).toBeGreaterThanOrEqual(1);
      expect(await observationsOf(tx, subject)).toEqual([within, newest]);
    });
  });

  it("measures from the newest observation, not from now: a watch behind by days keeps its windows", async () => {
    await rolledBack(async (tx) => {
      const subject = randomUUID();
      // The newest is this case's observation in 2999; every observation of this subject is within 2 hours.
      const kept = [await observe(tx, subject, hoursBefore(1.9)), await observe(tx, subject, hoursBefore(0))];
      await forgetPastObservations(tx, HOUR);
      expect(await observationsOf(tx, subject)).toEqual(kept);
    });
  });

  it("forgets a principal with no observation left unless its alert window is still open", async () => {
    await rolledBack(async (tx) => {
      await observe(tx, randomUUID(), hoursBefore(0));
      const [quiet, alerted, watched] = [randomUUID(), randomUUID(), randomUUID()].sort();
      await principal(tx, quiet as string, null);
      // An alert window ending in the future: the same pattern must not be reported again before then.
      await principal(tx, alerted as string, hoursBefore(-1));
      await principal(tx, watched as string, null);
      await observe(tx, watched as string, hoursBefore(0.5));

      await forgetPastObservations(tx, HOUR);
      expect(await principalsAmong(tx, [quiet, alerted, watched] as string[])).toEqual(
        [alerted, watched].sort(),
      );
    });
  });
});

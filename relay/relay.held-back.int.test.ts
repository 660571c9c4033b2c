// Events committed while an older transaction that writes no outbox row (a consumer's inbox, an idempotency
// key's claim) is still running: the relay may not read them until it ends, and its commit sends no NOTIFY. The
// relay sees them waiting and looks again within milliseconds, backing off, rather than sleeping a whole idle
// poll; this relay's idle poll is a minute, so only that can publish them within the test's time. The test has
// a database of its own: another file's events, written meanwhile, would wake the relay by their NOTIFY and
// start its backoff over, which is right, but not what this test counts.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { eventually, kafkaBrokers, patientCreated, startRelay, testEventContext } from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { ownDatabase } from "../test/ownDatabase.ts";
import type { OutboxRelay } from "./relay.ts";

const IDLE_POLL_MS = 60_000;
const HOLD_MS = 1_000;

const own = ownDatabase("relay_held_back");
let relay: OutboxRelay;

beforeAll(async () => {
  await own.setUp();
  relay = startRelay({ idlePollMs: IDLE_POLL_MS, databaseUrl: own.url });
});
afterAll(async () => {
  await relay.stop();
  await own.tearDown();
});

describe("the polling relay behind a transaction that writes no outbox row", () => {
  it("publishes the events it held back soon after that transaction ends, polling with backoff meanwhile", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const { db } = own;
    const blocker = new pg.Client({ connectionString: own.url });
    await blocker.connect();
    try {
      await blocker.query("BEGIN");
      // An xid of its own, as any transaction that writes gets: from here the relay may read nothing newer.
      const { rows } = await blocker.query<{ txId: string }>('SELECT pg_current_xact_id()::text AS "txId"');
      const blockerTxId = rows[0]?.txId;
      const events = await writeTransaction(db, (tx) =>
        appendEvents(tx, testEventContext(), [patientCreated(), patientCreated()]),
      );
      // The events' NOTIFY woke the relay, which found them held back.
      const pollsBefore = relay.pollCount;
      await eventually(async () => relay.pollCount > pollsBefore);
      const holding = relay.pollCount;
      await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
      // 5, 10, 20, ... ms apart: a handful of polls in a second, not a busy loop.
      expect(relay.pollCount - holding).toBeLessThanOrEqual(10);
      // Nothing after the blocker has been published yet.
      const checkpoint = await db.$client.query<{ behind: boolean }>(
        `SELECT coalesce((SELECT tx_id FROM relay_checkpoints WHERE name = 'outbox'), '0'::xid8) < $1::xid8
                AS behind`,
        [blockerTxId],
      );
      expect(checkpoint.rows[0]?.behind).toBe(true);
      await blocker.query("COMMIT");

      const expected = events.map((event) => event.eventId);
      const records = await tap.collect({ done: containsAll(expected), timeoutMs: IDLE_POLL_MS / 4 });
      expectExactlyOnce(records, expected);
    } finally {
      await blocker.end();
    }
  });
});

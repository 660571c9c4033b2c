// The relay is woken by a NOTIFY its writers send after their commit, in a transaction of their own, never from
// inside the writing transaction: PostgreSQL serializes the commits of transactions that sent a NOTIFY, each
// across its WAL flush (db/outbox/relayWakeup.ts). This relay's idle poll is a minute, so only a NOTIFY can
// have it publish within the test's time; the database is the test's own, so that no other file's writes wake it.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectionOf, writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { OUTBOX_CHANNEL } from "../db/outbox/relayWakeup.ts";
import { eventually, kafkaBrokers, patientCreated, startRelay, testEventContext } from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { ownDatabase } from "../test/ownDatabase.ts";
import type { OutboxRelay } from "./relay.ts";

const IDLE_POLL_MS = 60_000;

const own = ownDatabase("relay_wakeup");
let relay: OutboxRelay;
let listener: pg.Client;
const notifications: pg.Notification[] = [];

beforeAll(async () => {
  await own.setUp();
  listener = new pg.Client({ connectionString: own.url });
  await listener.connect();
  listener.on("notification", (notification) => notifications.push(notification));
  await listener.query(`LISTEN ${OUTBOX_CHANNEL}`);
  relay = startRelay({ idlePollMs: IDLE_POLL_MS, databaseUrl: own.url });
  // Idle: its first poll found nothing, and it waits for a NOTIFY or a minute.
  await eventually(async () => relay.pollCount > 0);
});
afterAll(async () => {
  await relay.stop();
  await listener.end();
  await own.tearDown();
});

describe("waking the polling relay", () => {
  it("no trigger of the outbox sends a NOTIFY: the writing transaction holds no lock across its commit for it", async () => {
    const { rows } = await own.db.$client.query<{ trigger: string }>(
      `SELECT t.tgname AS trigger FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE t.tgrelid = 'outbox'::regclass AND NOT t.tgisinternal AND p.prosrc ILIKE '%notify%'`,
    );
    expect(rows).toEqual([]);
  });

  it("is done after a commit of events, by another session than the writer's, and the relay publishes them", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    notifications.length = 0;
    let writer: number | undefined;
    const events = await writeTransaction(own.db, async (tx) => {
      writer = (await connectionOf(tx).query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;
      return appendEvents(tx, testEventContext(), [patientCreated(), patientCreated()]);
    });
    await eventually(async () => notifications.length > 0);
    expect(notifications.map(({ processId }) => processId)).not.toContain(writer);

    const expected = events.map((event) => event.eventId);
    const records = await tap.collect({ done: containsAll(expected), timeoutMs: IDLE_POLL_MS / 4 });
    expectExactlyOnce(records, expected);
  });

  it("is not done for a transaction that rolled back", async () => {
    notifications.length = 0;
    await expect(
      writeTransaction(own.db, async (tx) => {
        await appendEvents(tx, testEventContext(), [patientCreated()]);
        throw new Error("the work failed after its events were written");
      }),
    ).rejects.toThrow("the work failed");
    // A NOTIFY a commit asked for arrives within milliseconds; none is coming.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(notifications).toEqual([]);
  });

  it("follows the last of a burst of concurrent commits: every one of their events is published", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const written = await Promise.all(
      Array.from({ length: 20 }, () =>
        writeTransaction(own.db, (tx) => appendEvents(tx, testEventContext(), [patientCreated()])),
      ),
    );
    const expected = written.flat().map((event) => event.eventId);
    const records = await tap.collect({ done: containsAll(expected), timeoutMs: IDLE_POLL_MS / 4 });
    expectExactlyOnce(records, expected);
  });
});

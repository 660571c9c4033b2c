// relay:status in the polling mode: it fails when no polling relay publishes (none holds the relay lock, as
// after `relay:switch -- polling` with no polling relay started, or every relay stopped) and when the relay
// holding the lock publishes nothing (stopped, stuck, or held back by a transaction open that long), where it
// said "no problem" with tens of thousands of events waiting; a relay at work is no problem.
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { releaseRelayLock, tryRelayLock } from "../db/outbox/relayLock.ts";
import {
  databaseUrl,
  eventually,
  kafkaBrokers,
  patientCreated,
  startRelay,
  testDatabase,
  testEventContext,
} from "../test/fixtures.ts";
import { ConnectClient } from "./connectRest.ts";
import { relayStatus } from "./status.ts";

const db = testDatabase();
afterAll(() => db.$client.end());
// Not asked in the polling mode: no worker need answer here.
const connect = new ConnectClient("http://127.0.0.1:9");
const status = (pendingEventMaxAgeSeconds?: number) =>
  relayStatus({
    databaseUrl: databaseUrl(),
    connect,
    kafkaBrokers: kafkaBrokers(),
    pendingEventMaxAgeSeconds,
  });

describe("relay:status in the polling mode", () => {
  it("fails when no polling relay holds the lead, and names the leader once one publishes", async () => {
    const idle = await status();
    expect(idle.mode).toBe("polling");
    expect(idle.polling?.leader).toBeNull();
    expect(idle.problems).toEqual([
      "no polling relay publishes: no session holds the relay lock in this database, so events stay in the " +
        "outbox; start one (npm start, or npm run relay)",
    ]);

    const relay = startRelay();
    try {
      await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [patientCreated()]));
      const working = await eventually(async () => {
        const current = await status();
        return current.polling?.pending === 0 && current;
      }, 60_000);
      expect(working.problems).toEqual([]);
      expect(working.polling?.leader).toMatchObject({
        pid: expect.any(Number),
        application: "outbox-relay:outbox",
      });
    } finally {
      await relay.stop();
    }
  });

  it("fails when the relay holding the lock lets an event wait longer than it may", async () => {
    // A leader that publishes nothing: this session holds the lock, as a stopped (SIGSTOP) relay's does.
    const stuck = await db.$client.connect();
    try {
      expect(await tryRelayLock(stuck)).toBe(true);
      await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [patientCreated()]));
      const waited = await eventually(async () => {
        const current = await status(1);
        return current.problems.length > 0 && current;
      }, 10_000);
      expect(waited.polling?.leader?.pid).toBe(
        (await stuck.query("SELECT pg_backend_pid() AS pid")).rows[0].pid,
      );
      expect(waited.problems).toEqual([
        expect.stringMatching(
          /^the oldest event not yet published has waited \d+ s \(more than 1\): the relay holding the lock \(Postgres session \d+, tests\) publishes nothing or falls behind/,
        ),
      ]);
      await releaseRelayLock(stuck);
    } finally {
      stuck.release();
    }
    // Published, the wait is over.
    const relay = startRelay();
    try {
      await eventually(async () => (await status(1)).problems.length === 0, 60_000);
    } finally {
      await relay.stop();
    }
  });
});

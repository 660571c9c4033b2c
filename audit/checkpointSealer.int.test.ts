// The platform's checkpoint sealer keeps running when its database session is ended under it (a failover, an
// operator's pg_terminate_backend): its pool's client, checked out for a seal, had no error listener, so the
// session's end was an uncaught 'error' that stopped the whole platform ("Connection terminated unexpectedly",
// found terminating the platform's sessions in a loop while it served writes). And a seal slower than the interval
// holds back the ticks after it rather than queueing one seal for each, all of which stopping waited for.
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testKey } from "../test/auditHistories.ts";
import { createPatients, databaseUrl, eventually, silentLog } from "../test/fixtures.ts";
import { ownDatabase } from "../test/ownDatabase.ts";
import { startCheckpointSealer } from "./checkpointSealer.ts";

const observer = new pg.Client({ connectionString: databaseUrl() });
beforeAll(() => observer.connect());
afterAll(() => observer.end());

describe("the checkpoint sealer", () => {
  // A database of its own, with a history to seal: sealed with the test key, the shared database's checkpoints
  // would be signed by a key the files verifying it after this one (with the platform's key) do not know.
  const own = ownDatabase("sealer_terminated");
  beforeAll(async () => {
    await own.setUp();
    await createPatients(own.db, 200);
  });
  afterAll(() => own.tearDown());
  const sealedCheckpoints = async () => {
    const { rows } = await own.db.$client.query<{ sealed: number }>(
      "SELECT count(*)::int AS sealed FROM outbox_checkpoints",
    );
    return rows[0]?.sealed ?? 0;
  };

  it("outlives its sessions being terminated while it seals", async () => {
    const uncaught: unknown[] = [];
    const note = (error: unknown) => uncaught.push(error);
    process.on("uncaughtException", note);
    const sealer = startCheckpointSealer({
      databaseUrl: own.url,
      key: testKey,
      log: silentLog,
      intervalMs: 5,
    });
    let terminated = 0;
    try {
      for (let round = 0; round < 150; round++) {
        const { rows } = await observer.query<{ ended: boolean }>(
          `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
            WHERE application_name = 'checkpoint-sealer' AND pid <> pg_backend_pid()`,
        );
        terminated += rows.filter((row) => row.ended).length;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10));
      }
      // Once the terminations stop, it seals again. (Between them it may not have: a seal takes only the rows
      // below the server's transaction horizon, which an open transaction in another database, another test
      // file's, holds back; and a seal on a busy machine can outlast the few milliseconds a session lives.)
      await eventually(async () => (await sealedCheckpoints()) > 0, 60_000);
    } finally {
      await sealer.stop();
      process.off("uncaughtException", note);
    }
    expect(terminated).toBeGreaterThan(0);
    expect(uncaught).toEqual([]);
    expect(await sealedCheckpoints()).toBeGreaterThan(0);
  });
});

describe("the checkpoint sealer's ticks", () => {
  const own = ownDatabase("sealer_ticks");
  beforeAll(() => own.setUp());
  afterAll(() => own.tearDown());

  /**
   * The seals run in the sealer's database: each reads its latest checkpoint, one scan of outbox_checkpoints, which
   * nothing else here reads (the server's count of its transactions also took autovacuum's and late statistics of
   * other sessions, and made this test fail on a busy machine).
   */
  const seals = async () => {
    const { rows } = await own.db.$client.query<{ scans: string }>(
      `SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS scans FROM pg_stat_user_tables
        WHERE relname = 'outbox_checkpoints'`,
    );
    return Number(rows[0]?.scans);
  };
  const sealerSessions = async () => {
    const { rows } = await observer.query<{ waiting: boolean }>(
      `SELECT wait_event_type = 'Lock' AS waiting FROM pg_stat_activity
        WHERE application_name = 'checkpoint-sealer' AND datname = $1`,
      [own.name],
    );
    return rows;
  };

  it("skips the ticks that find a seal still running: the seal waiting on the lock is the only one", async () => {
    // Another sealer (an operator's audit:seal) holds the sealers' lock: the first seal waits for it.
    const holder = new pg.Client({ connectionString: own.url });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock(hashtext('outbox-checkpoint'))");
      const before = await seals();
      const sealer = startCheckpointSealer({
        databaseUrl: own.url,
        key: testKey,
        log: silentLog,
        intervalMs: 5,
      });
      await eventually(async () => (await sealerSessions()).some((session) => session.waiting));
      // About a hundred ticks while the seal waits.
      await sleep(500);
      const stopped = sealer.stop();
      await holder.query("SELECT pg_advisory_unlock(hashtext('outbox-checkpoint'))");
      await stopped;
      // A session's statistics reach the server's view as it ends.
      await eventually(async () => (await sealerSessions()).length === 0);
      await eventually(async () => (await seals()) > before);
      // The one seal: not a seal for each of the hundred ticks, run one after another once the lock went.
      expect((await seals()) - before).toBe(1);
    } finally {
      await holder.end();
    }
  });
});

// A database restored from a logical dump (or moved by logical replication) carries the old server's
// transaction ids: the relay refuses to lead with an error and a metric instead of idling silently, and
// `npm run relay:rebase` re-anchors it with nothing lost, nothing Kafka holds sent again, and order kept.
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectionOf, createDatabase, type Database, writeTransaction } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { RestoredHistoryAhead } from "../db/outbox/insertOutboxRows.ts";
import { exampleEvent } from "../events/examples.ts";
import {
  databaseUrl,
  eventually,
  kafkaBrokers,
  newPatientBody,
  startRelay as startTestRelay,
  testEventContext,
} from "../test/fixtures.ts";
import { expectExactlyOnce, expectPerKeyOrder } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import {
  RESTORED_AHEAD_BY,
  relayCheckpoint,
  restoreFromAServerAhead,
  writeModelEvents,
} from "../test/restoredDatabase.ts";
import { caller, testPlatform } from "../test/tokens.ts";
import type { OutboxRelay } from "./relay.ts";

const run = promisify(execFile);
const projectRoot = fileURLToPath(new URL("..", import.meta.url));

/**
 * A database of its own: the simulated restore leaves the history as a real one does, with the rows of a write
 * in flight during the restore before the restored ones in transaction-id order (audit:verify reports them as
 * moved), which must not reach the other files' shared database.
 */
const restoredDatabase = `relay_rebase_${randomUUID().slice(0, 8)}`;
const restoredUrl = (() => {
  const url = new URL(databaseUrl());
  url.pathname = `/${restoredDatabase}`;
  return url.toString();
})();
async function onServer(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  await client.query(statement).finally(() => client.end());
}
let db: Database;
const startRelay = (overrides: Parameters<typeof startTestRelay>[0] = {}) =>
  startTestRelay({ databaseUrl: restoredUrl, ...overrides });
beforeAll(async () => {
  await onServer(`CREATE DATABASE ${restoredDatabase}`);
  await migrateDatabase(restoredUrl);
  db = createDatabase(restoredUrl, { max: 5, applicationName: "tests" });
});
let relay: OutboxRelay | null = null;
/** Set once the test's own rebase ran: a test that failed before it must not leave the next files a relay
 * that refuses to lead. */
let reanchored = false;
afterAll(async () => {
  await relay?.stop();
  if (!reanchored) await rebase("--yes").catch(() => {});
  await db.$client.end();
  await onServer(`DROP DATABASE IF EXISTS ${restoredDatabase} WITH (FORCE)`);
}, 120_000);

const outboxRows = async () =>
  Number((await db.$client.query<{ rows: string }>("SELECT count(*) AS rows FROM outbox")).rows[0]?.rows);

async function rebase(...args: string[]) {
  return run(process.execPath, ["--import", "tsx", "relay/rebase.ts", ...args], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: restoredUrl, KAFKA_BROKERS: kafkaBrokers().join(",") },
  });
}

async function gauge(registry: Registry, name: string): Promise<number> {
  return (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
}

describe("a relay cursor ahead of the server", () => {
  it("stops the relay with an error and a metric, and relay:rebase re-anchors it losing and repeating nothing", async () => {
    const tap = await tapTopic(kafkaBrokers(), "ai-events");
    relay = startRelay();
    // Positions of one digit and two (1 to 12), then of two and three (13 to 102) in one transaction each,
    // which sort otherwise as text than as numbers.
    const published = await writeModelEvents(db, 12);
    await tap.collect({ done: containsAll(published), timeoutMs: 60_000, settleMs: 0 });
    await relay.stop();
    const writtenBeforeTheDump = await writeModelEvents(db, 90);
    // A write in flight while the restore commits: its snapshot predates the restored rows, so nothing tells
    // it of them, and it commits with smaller transaction ids than theirs. The relay's order would put its
    // events first or skip them: relay:rebase publishes them after the restored ones.
    let restoreCommitted!: () => void;
    const restored = new Promise<void>((resolve) => {
      restoreCommitted = resolve;
    });
    const inFlight = writeTransaction(db, async (tx) => {
      await connectionOf(tx).query("SELECT 1"); // REPEATABLE READ: the snapshot is taken here
      await restored;
      const events = [exampleEvent("ai.model.trained"), exampleEvent("ai.model.trained")];
      return appendEvents(tx, testEventContext(), events);
    });
    // The dump caught the checkpoint one event before the last one the relay had published.
    await restoreFromAServerAhead(db, published[1] as string);
    restoreCommitted();
    const writtenDuringTheRestore = (await inFlight).map((event) => event.eventId);

    const registry = new Registry();
    relay = startRelay({ registry });
    await eventually(async () => (await gauge(registry, "outbox_relay_cursor_ahead")) === 1);
    expect(relay.leader).toBe(false);
    expect(relay.stalled).toContain("npm run relay:rebase");
    // A write after the restore would take smaller transaction ids than the restored events it follows: it is
    // refused, and nothing of it is stored.
    const rowsBefore = await outboxRows();
    await expect(writeModelEvents(db, 2)).rejects.toBeInstanceOf(RestoredHistoryAhead);
    await expect(
      writeTransaction(db, (tx) =>
        appendEvents(tx, testEventContext(), [exampleEvent("audit.login.attempt")]),
      ),
    ).rejects.toBeInstanceOf(RestoredHistoryAhead);
    expect(await outboxRows()).toBe(rowsBefore);

    const before = await relayCheckpoint(db);
    const dryRun = await rebase("--dry-run");
    const plan = JSON.parse(dryRun.stdout) as Record<string, unknown>;
    expect(plan).toMatchObject({ ahead: true, restoredToPublish: 90, writtenHereToPublish: 2 });
    expect(await relayCheckpoint(db)).toEqual(before);
    expect(relay.leader).toBe(false);

    await expect(rebase()).rejects.toThrow("--yes");
    await rebase("--yes");
    reanchored = true;
    await eventually(async () => relay?.leader && (await gauge(registry, "outbox_relay_cursor_ahead")) === 0);
    expect(relay.stalled).toBeNull();
    const writtenAfterTheRebase = await writeModelEvents(db, 2);

    const all = [...published, ...writtenBeforeTheDump, ...writtenDuringTheRestore, ...writtenAfterTheRebase];
    const records = await tap.collect({ done: containsAll(all), timeoutMs: 60_000 });
    const ours = records.filter((record) => all.includes(record.eventId));
    expectExactlyOnce(ours, all);
    expectPerKeyOrder(ours, new Map([[ours[0]?.key as string, all]]));
    expect((await rebase("--dry-run")).stdout).toContain('"ahead": false');
    // Run again while the relay publishes: nothing to do, said with exit code 0, not a failure after waiting
    // 30 s for the lock the relay holds.
    expect((await rebase("--yes")).stderr).toContain("nothing to re-anchor");
  }, 300_000);

  it("refuses writes while a sealed checkpoint lies ahead, though the rows it sealed were archived away", async () => {
    // What the restore of an archived history leaves: the outbox's rows are gone, its last checkpoint is not.
    await db.$client.query(
      `INSERT INTO outbox_checkpoints
         (sequence, up_to_tx_id, up_to_position, row_count, chain_hash, key_id, signature, sealed_at)
       SELECT coalesce(max(sequence), 0) + 1,
              (pg_snapshot_xmax(pg_current_snapshot())::text::numeric + $1)::text::xid8,
              0, 0, '\\x00', 'restored', '\\x00', now()
         FROM outbox_checkpoints`,
      [RESTORED_AHEAD_BY],
    );
    const rowsBefore = await outboxRows();
    await expect(writeModelEvents(db, 1)).rejects.toBeInstanceOf(RestoredHistoryAhead);
    expect(await outboxRows()).toBe(rowsBefore);

    // A service answers the 503 its document declares, and keeps neither the patient nor an event.
    const admin = await caller("admin");
    const response = await testPlatform(db).request("/patients", {
      method: "POST",
      headers: admin.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(newPatientBody()),
    });
    expect(response.status).toBe(503);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await response.json()).toMatchObject({ detail: expect.stringContaining("restored") });
    const patients = await db.$client.query("SELECT 1 FROM patients");
    expect(patients.rowCount).toBe(0);
    expect(await outboxRows()).toBe(rowsBefore);
  });

  it("refuses a relay name that has no checkpoint, naming those that have one, and changes nothing", async () => {
    // A relay of another name, so that there is one to name whatever ran before.
    await db.$client.query(
      `INSERT INTO relay_checkpoints (name, tx_id, position) VALUES ('outbox-standby', '0', 0)
         ON CONFLICT (name) DO NOTHING`,
    );
    const checkpoints = () =>
      db.$client
        .query("SELECT name, tx_id::text, position::text FROM relay_checkpoints ORDER BY name")
        .then((result) => result.rows);
    const before = await checkpoints();
    const refusal = (...args: string[]) =>
      rebase(...args).then(
        () => ({ code: 0, stderr: "" }),
        (error: { code: number; stderr: string }) => error,
      );

    for (const args of [["--yes"], ["--dry-run"]]) {
      const unknown = await refusal("--name", "Outbox", ...args);
      expect(unknown.code, unknown.stderr).toBe(2);
      expect(unknown.stderr).toContain('--name: no relay named "Outbox" has a checkpoint; relays with one:');
      expect(unknown.stderr).toContain("outbox-standby");
      expect(unknown.stderr).toContain("usage: npm run relay:rebase");
    }
    const empty = await refusal("--name", "", "--yes");
    expect(empty.code, empty.stderr).toBe(2);
    expect(empty.stderr).toContain("--name: give the relay's name");
    expect(await checkpoints()).toEqual(before);
  });
});

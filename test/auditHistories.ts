// For the audit tests: each history in a database of its own (archiving removes the oldest history of the
// whole outbox, and tampering must not touch anyone else's), made from one migrated template per test file;
// histories written through appendEvents in rounds, sealed by checkpoints; and an administrator who bypasses
// the triggers to tamper with them; and a history ready to archive, in a directory of its own.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { type ArchiveOptions, archiveHistory } from "../audit/archiveHistory.ts";
import type { Checkpoint } from "../audit/checkpoint.ts";
import type { HistoryRange } from "../audit/historySpan.ts";
import { sealCheckpoint } from "../audit/sealCheckpoint.ts";
import { type SigningKey, signingKeyFromPem } from "../audit/signingKey.ts";
import { type HistoryRow, historyBatch } from "../audit/sql/historyRows.ts";
import { verifyHistory } from "../audit/verifyHistory.ts";
import { DEFAULT_AUDIT_RETENTION_DAYS } from "../config/env.ts";
import { createDatabase, type Database, writeTransaction } from "../db/client.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { exampleEvent } from "../events/examples.ts";
import { spawnScript } from "./childProcess.ts";
import { eventually, patientCreated, testEventContext } from "./fixtures.ts";
import { onTestServer, urlOfDatabase } from "./ownDatabase.ts";

export const testKey = signingKeyFromPem(
  generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
);
export const testKeys = new Map([[testKey.keyId, testKey.publicKey]]);

const urlOf = urlOfDatabase;
const onServer = onTestServer;

/** Fresh migrated databases for one test file: call `setUp` in beforeAll and `tearDown` in afterAll. */
export function freshDatabases(prefix: string) {
  const template = `${prefix}_template_${randomUUID().slice(0, 8)}`;
  const created: string[] = [];
  return {
    setUp: async () => {
      await onServer(`CREATE DATABASE ${template}`);
      await migrateDatabase(urlOf(template));
    },
    tearDown: async () => {
      for (const database of [...created, template])
        await onServer(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
    /** A new database from the template, and a history writer on it. */
    create: async (): Promise<TestHistory> => {
      const database = `${prefix}_${randomUUID().slice(0, 8)}`;
      created.push(database);
      await onServer(`CREATE DATABASE ${database} TEMPLATE ${template}`);
      return new TestHistory(createDatabase(urlOf(database), { max: 3 }));
    },
  };
}

export class TestHistory {
  readonly patientIds = Array.from({ length: 4 }, () => randomUUID());
  #round = 0;
  #admin: pg.PoolClient | null = null;

  constructor(readonly db: Database) {}

  /** Each patient's patient.created, one audit event. */
  async begin(): Promise<void> {
    for (const patientId of this.patientIds) await this.#append([patientCreated(patientId)]);
    await this.#append([exampleEvent("audit.data.accessed")]);
  }

  /** One patient.updated for each of the given patients (all by default), then one audit event. */
  async round(patientIds: readonly string[] = this.patientIds): Promise<void> {
    this.#round++;
    for (const patientId of patientIds) {
      await this.#append([
        {
          type: "patient.updated",
          data: {
            patientId,
            changedFields: ["allergies"],
            changes: { allergies: [`allergy-${this.#round}`] },
          },
        },
      ]);
    }
    await this.#append([exampleEvent("audit.data.accessed")]);
  }

  /**
   * Seals one checkpoint over everything written so far. Sealing covers only rows below the server-wide horizon,
   * so it waits until no transaction elsewhere on the server is older than the last row: one checkpoint, then,
   * never one cut short by someone else's open transaction.
   */
  async seal(
    key: SigningKey = testKey,
    options: Parameters<typeof sealCheckpoint>[2] = {},
  ): Promise<Checkpoint> {
    const client = await this.db.$client.connect();
    try {
      await eventually(async () => {
        const { rows } = await client.query<{ clear: boolean }>(
          "SELECT pg_snapshot_xmin(pg_current_snapshot()) > (SELECT max(tx_id) FROM outbox) AS clear",
        );
        return rows[0]?.clear;
      }, 60_000);
      const checkpoint = await sealCheckpoint(client, key, options);
      if (!checkpoint) throw new Error("nothing new to seal");
      return checkpoint;
    } finally {
      client.release();
    }
  }

  /** The polling relay has delivered every row so far: archiving refuses to delete what it has not. */
  async relayed(): Promise<void> {
    await this.db.$client.query(
      `INSERT INTO relay_checkpoints (name, tx_id, position)
       SELECT 'outbox', tx_id, position FROM outbox ORDER BY tx_id DESC, position DESC LIMIT 1
       ON CONFLICT (name) DO UPDATE SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position`,
    );
  }

  /** A connection of its own, for verifying and archiving. */
  async connection(): Promise<pg.PoolClient> {
    return this.db.$client.connect();
  }

  /** An administrator's connection, with the triggers off, to tamper with the history. */
  async admin(): Promise<pg.PoolClient> {
    if (!this.#admin) {
      this.#admin = await this.db.$client.connect();
      await this.#admin.query("SET session_replication_role = replica");
    }
    return this.#admin;
  }

  /** Every row of the outbox, in history order. */
  async rows(): Promise<HistoryRow[]> {
    const client = await this.db.$client.connect();
    try {
      return await historyBatch(client, { txId: "0", position: "0" }, 100_000);
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    this.#admin?.release();
    await this.db.$client.end();
  }

  async #append(events: Parameters<typeof appendEvents>[2]): Promise<void> {
    await writeTransaction(this.db, (tx) => appendEvents(tx, testEventContext(), events));
  }
}

/** A changed payload, as an administrator would make it: the row's hash no longer matches. */
export async function changePayload(history: TestHistory, position: string): Promise<void> {
  const admin = await history.admin();
  const changed = await admin.query(
    `UPDATE outbox SET payload = replace(payload::text, '"source":"test-suite"', '"source":"forged"')::json
      WHERE position = $1`,
    [position],
  );
  if (changed.rowCount !== 1) throw new Error(`no row at position ${position} to tamper with`);
}

/** A pause long enough that rows written after it are created strictly after the time returned. */
export async function momentBetween(): Promise<Date> {
  await new Promise((resolve) => setTimeout(resolve, 5));
  const moment = new Date();
  await new Promise((resolve) => setTimeout(resolve, 5));
  return moment;
}

const DAY_MS = 86_400_000;

/**
 * 35 rows over 4 patients, in history order: rows 0-9 (each patient's creation and first update, with audit
 * events) sealed by checkpoint 1, with `midFirst` between creations and updates and `afterFirst` after them;
 * rows 10-19 (two more updates each) sealed by checkpoint 2; rows 20-34 (three more) not sealed. Patient p's
 * events in round r are rows 5r+p. Archives go to a temporary directory that `close` removes.
 */
export async function historyToArchive(history: TestHistory) {
  await history.begin();
  const midFirst = await momentBetween();
  await history.round();
  const first = await history.seal();
  const afterFirst = await momentBetween();
  await history.round();
  await history.round();
  const second = await history.seal();
  await history.round();
  await history.round();
  await history.round();
  const rows = await history.rows();
  const client = await history.connection();
  await history.relayed();
  const directory = await mkdtemp(join(tmpdir(), "audit-archive-"));
  const retentionDays = DEFAULT_AUDIT_RETENTION_DAYS;
  return {
    history,
    rows,
    directory,
    checkpoints: [first, second] as [Checkpoint, Checkpoint],
    midFirst,
    afterFirst,
    /** The present at which the history up to `moment` is exactly as old as the retention period. */
    whenAged: (moment: Date) => new Date(moment.getTime() + retentionDays * DAY_MS),
    /** The present at which all of it is older than the retention period. */
    longAfter: () => new Date(Date.now() + (retentionDays + 1) * DAY_MS),
    position: (index: number) => (rows[index] as HistoryRow).position,
    archive: (options: Partial<ArchiveOptions> = {}) =>
      archiveHistory(client, testKey, { retentionDays, directory, ...options }),
    verify: (range: HistoryRange = {}) => verifyHistory(client, testKeys, range),
    remaining: async () => (await history.rows()).map((row) => row.eventId),
    close: async () => {
      client.release();
      await history.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

const SEVEN_YEARS_MS = 7 * 365 * 86_400_000;
/**
 * Moves a command's clock seven years on, past the default retention period: the command archives only
 * history older than a day at least, and a test's history was written just now.
 */
const sevenYearsLater = `data:text/javascript,${encodeURIComponent(
  `const R=Date;globalThis.Date=class extends R{constructor(...a){a.length?super(...a):super(R.now()+${SEVEN_YEARS_MS})}static now(){return R.now()+${SEVEN_YEARS_MS}}}`,
)}`;

/** `npm run audit:archive -- --yes --dir <directory>` as a child process on the history's database, seven years on. */
export function archiveCommand(archiving: Awaited<ReturnType<typeof historyToArchive>>) {
  return spawnScript("audit/cli.ts", {
    args: ["archive", "--yes", "--dir", archiving.directory],
    env: {
      DATABASE_URL: archiving.history.db.$client.options.connectionString as string,
      AUDIT_SIGNING_KEY: testKey.privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
      NODE_OPTIONS: `--import=${sevenYearsLater}`,
    },
  });
}

// `npm run audit:archive` stopped while it writes (Ctrl-C) dies with its archive file and manifest on disk,
// having recorded and deleted nothing. The next archive takes their place: they are not another history's
// archive, which nothing may overwrite, and refusing them would stop every archive from then on.
import { readdir, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { archiveCommand, freshDatabases, historyToArchive, testKeys } from "../test/auditHistories.ts";
import { eventually } from "../test/fixtures.ts";
import { verifyArchiveFiles } from "./verifyArchiveFile.ts";

const databases = freshDatabases("archive_interrupted");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

type Archiving = Awaited<ReturnType<typeof historyToArchive>>;

/** Where a test stops `npm run audit:archive`: the table whose lock it waits for, and the signal it is sent there. */
interface Interruption {
  table: "outbox_archive_heads" | "outbox_archives";
  signal: "SIGINT" | "SIGKILL";
}

/**
 * Stopped (Ctrl-C) once its archive file is written, while it waits to record the archive's heads: its files are
 * left on disk, its transaction rolled back.
 */
const stoppedBeforeRecording: Interruption = { table: "outbox_archive_heads", signal: "SIGINT" };

/**
 * Killed (SIGKILL: no handler runs) once it has written and synced its signed manifest, while it waits to record
 * the archive: its transaction never commits, so nothing is recorded and no row deleted, but both its files,
 * complete and signed, are left on disk.
 */
const killedAfterSigning: Interruption = { table: "outbox_archives", signal: "SIGKILL" };

/**
 * Runs `npm run audit:archive` while another session holds `table` locked, and sends it `signal` once it waits
 * for that lock to insert into it. Resolves, once it has exited, to the files left in the archive directory.
 */
async function interrupted(archiving: Archiving, { table, signal }: Interruption): Promise<string[]> {
  const admin = await archiving.history.admin();
  await admin.query("BEGIN");
  await admin.query(`LOCK TABLE ${table} IN SHARE MODE`);
  const command = archiveCommand(archiving);
  // Asked from another session: one in a transaction sees the activity as it was at its first look.
  await eventually(async () => {
    const waiting = await archiving.history.db.$client.query(
      `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`,
      [`INSERT INTO ${table}%`],
    );
    return waiting.rowCount === 1;
  });
  command.child.kill(signal);
  await command.exited;
  await admin.query("ROLLBACK");
  return (await readdir(archiving.directory)).sort();
}

/**
 * The next archive, run over what an interrupted one `left`, takes those files' names for its own: archive 1 of
 * the 20 rows sealed by checkpoint 2, intact, and the outbox holding the other 15.
 */
async function expectReplacedByNextArchive(archiving: Archiving, left: string[]): Promise<void> {
  const outcome = await archiving.archive({ now: archiving.longAfter() });

  expect(outcome.archived).toMatchObject({ sequence: 1, checkpointSequence: 2, rowCount: 20 });
  expect((await readdir(archiving.directory)).sort()).toEqual(left);
  expect(await verifyArchiveFiles([join(archiving.directory, left[0] as string)], testKeys)).toMatchObject([
    { intact: true, archive: 1, rows: 20 },
  ]);
  expect(await archiving.remaining()).toHaveLength(15);
  await archiving.close();
}

describe("an archive stopped while it writes", () => {
  it("leaves files that the next archive replaces, rather than refusing them as another history's", async () => {
    const archiving = await historyToArchive(await databases.create());
    const left = await interrupted(archiving, stoppedBeforeRecording);
    expect(left).toEqual(["outbox-archive-000001.manifest.json", "outbox-archive-000001.ndjson.gz"]);
    expect(await archiving.remaining()).toHaveLength(35);

    await expectReplacedByNextArchive(archiving, left);
  });

  it("leaves, if it dies while its signed manifest is written, the unsigned one whole: the next archive replaces both", async () => {
    const archiving = await historyToArchive(await databases.create());
    const left = await interrupted(archiving, stoppedBeforeRecording);
    // The signed manifest is written beside the unsigned one and renamed over it: a crash midway leaves this.
    const partial = join(archiving.directory, `${left[0]}.partial`);
    await writeFile(partial, '{"format":"healthcare-outbox-archive/1","file":"outbox-archive-0000');

    const outcome = await archiving.archive({ now: archiving.longAfter() });

    expect(outcome.archived).toMatchObject({ sequence: 1, rowCount: 20 });
    expect((await readdir(archiving.directory)).sort()).toEqual(left);
    expect(await verifyArchiveFiles([join(archiving.directory, left[0] as string)], testKeys)).toMatchObject([
      { intact: true, archive: 1, rows: 20 },
    ]);
    await archiving.close();
  });

  it("is refused while the process writing it still runs, naming it, and its manifest is left as it is", async () => {
    const archiving = await historyToArchive(await databases.create());
    // Another database's archive under way into the same directory: its manifest names a writer that runs.
    const manifest = join(archiving.directory, "outbox-archive-000001.manifest.json");
    const marker = JSON.stringify({
      format: "healthcare-outbox-archive/writing",
      pid: process.ppid,
      host: hostname(),
      startedAt: new Date(),
    });
    await writeFile(manifest, marker);

    await expect(archiving.archive({ now: archiving.longAfter() })).rejects.toThrow(
      `refusing to archive: ${manifest} is being written by process ${process.ppid} on ${hostname()}`,
    );
    expect(await readFile(manifest, "utf8")).toBe(marker);
    expect(await readdir(archiving.directory)).toEqual(["outbox-archive-000001.manifest.json"]);
    expect(await archiving.remaining()).toHaveLength(35);
    await archiving.close();
  });
});

describe("an archive killed after it signed its manifest, before its transaction committed", () => {
  it("is replaced by the next archive: its files hold rows the outbox still holds, under no recorded archive", async () => {
    const archiving = await historyToArchive(await databases.create());
    const left = await interrupted(archiving, killedAfterSigning);
    expect(left).toEqual(["outbox-archive-000001.manifest.json", "outbox-archive-000001.ndjson.gz"]);
    expect(JSON.parse(await readFile(join(archiving.directory, left[0] as string), "utf8"))).toMatchObject({
      archive: { sequence: 1 },
    });
    expect(await archiving.remaining()).toHaveLength(35);

    await expectReplacedByNextArchive(archiving, left);
  });
});

/** An archive file whose first row is of another history: its own position, transaction and hash. */
const othersArchiveFile = () =>
  gzipSync(`${JSON.stringify({ txId: "7", position: "1", hash: "ab".repeat(32) })}\n`);

describe("an archive stopped by a version that left its manifest empty (it named no writer)", () => {
  const MANIFEST = "outbox-archive-000001.manifest.json";
  const FILE = "outbox-archive-000001.ndjson.gz";

  it("is replaced by the next archive when its archive file begins with this archive's first row, even cut off", async () => {
    const archiving = await historyToArchive(await databases.create());
    const left = await interrupted(archiving, stoppedBeforeRecording);
    expect(left).toEqual([MANIFEST, FILE]);
    // What that version left: the manifest as it created it, the archive file as far as it had got.
    await truncate(join(archiving.directory, MANIFEST), 0);
    const file = join(archiving.directory, FILE);
    await truncate(file, Math.floor((await stat(file)).size / 2));

    const outcome = await archiving.archive({ now: archiving.longAfter() });

    expect(outcome.archived).toMatchObject({ sequence: 1, checkpointSequence: 2, rowCount: 20 });
    expect(await verifyArchiveFiles([join(archiving.directory, MANIFEST)], testKeys)).toMatchObject([
      { intact: true, archive: 1, rows: 20 },
    ]);
    expect(await archiving.remaining()).toHaveLength(15);
    await archiving.close();
  });

  it("is replaced when its manifest is all it left (stopped before it created its archive file)", async () => {
    const archiving = await historyToArchive(await databases.create());
    await writeFile(join(archiving.directory, MANIFEST), "");

    const outcome = await archiving.archive({ now: archiving.longAfter() });

    expect(outcome.archived).toMatchObject({ sequence: 1, rowCount: 20 });
    expect(await verifyArchiveFiles([join(archiving.directory, MANIFEST)], testKeys)).toMatchObject([
      { intact: true, archive: 1, rows: 20 },
    ]);
    expect(await archiving.remaining()).toHaveLength(15);
    await archiving.close();
  });

  it.each([
    ["of another history", othersArchiveFile(), "begins with another row than this archive's first"],
    ["that holds no row yet", Buffer.alloc(0), "holds no whole row yet"],
    ["that is not gzip", Buffer.from("not an archive\n"), "is not an archive file (incorrect header check)"],
  ])(
    "is refused beside an archive file %s, naming both files, which are left as they are",
    async (_, content, why) => {
      const archiving = await historyToArchive(await databases.create());
      const manifest = join(archiving.directory, MANIFEST);
      const file = join(archiving.directory, FILE);
      await writeFile(manifest, "");
      await writeFile(file, content);

      await expect(archiving.archive({ now: archiving.longAfter() })).rejects.toThrow(
        `refusing to archive: ${manifest} is empty, left by an archive stopped before it signed, which recorded and deleted nothing; but ${file} ${why}`,
      );
      await expect(archiving.archive({ now: archiving.longAfter() })).rejects.toThrow(
        `If no other archive writes into this directory, remove ${manifest} and ${file} and archive again`,
      );
      expect(await readFile(manifest, "utf8")).toBe("");
      expect(await readFile(file)).toEqual(content);
      expect((await readdir(archiving.directory)).sort()).toEqual([MANIFEST, FILE]);
      expect(await archiving.remaining()).toHaveLength(35);
      await archiving.close();
    },
  );
});

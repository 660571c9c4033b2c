// `npm run audit:archive` stopped while it writes (Ctrl-C) dies with its archive file and manifest on disk,
// having recorded and deleted nothing. The next archive takes their place: they are not another history's
// archive, which nothing may overwrite, and refusing them would stop every archive from then on.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { archiveCommand, freshDatabases, historyToArchive, testKeys } from "../test/auditHistories.ts";
import { eventually } from "../test/fixtures.ts";
import { verifyArchiveFiles } from "./verifyArchiveFile.ts";

const databases = freshDatabases("archive_interrupted");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

describe("an archive stopped while it writes", () => {
  it("leaves files that the next archive replaces, rather than refusing them as another history's", async () => {
    const archiving = await historyToArchive(await databases.create());
    const admin = await archiving.history.admin();
    // Held by another session: the command stops at recording the archive's heads, its file written.
    await admin.query("BEGIN");
    await admin.query("LOCK TABLE outbox_archive_heads IN SHARE MODE");
    const command = archiveCommand(archiving);
    // Asked from another session: one in a transaction sees the activity as it was at its first look.
    await eventually(async () => {
      const waiting = await archiving.history.db.$client.query(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'
            AND query LIKE 'INSERT INTO outbox_archive_heads%'`,
      );
      return waiting.rowCount === 1;
    });
    command.child.kill("SIGINT");
    await command.exited;
    await admin.query("ROLLBACK");
    const left = (await readdir(archiving.directory)).sort();
    expect(left).toEqual(["outbox-archive-000001.manifest.json", "outbox-archive-000001.ndjson.gz"]);
    expect(await archiving.remaining()).toHaveLength(35);

    const outcome = await archiving.archive({ now: archiving.longAfter() });

    expect(outcome.archived).toMatchObject({ sequence: 1, checkpointSequence: 2, rowCount: 20 });
    expect((await readdir(archiving.directory)).sort()).toEqual(left);
    expect(await verifyArchiveFiles([join(archiving.directory, left[0] as string)], testKeys)).toMatchObject([
      { intact: true, archive: 1, rows: 20 },
    ]);
    expect(await archiving.remaining()).toHaveLength(15);
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

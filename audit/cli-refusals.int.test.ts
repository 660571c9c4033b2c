// `npm run audit:archive` refusing an archive it must not write says why on one line, exit code 1, with no stack
// trace after it, and archives and deletes nothing.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { archiveCommand, freshDatabases, historyToArchive } from "../test/auditHistories.ts";

const databases = freshDatabases("audit_cli_refusals");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

describe("audit:archive refused", () => {
  it("by another history's archive in its directory: one line naming the file, exit code 1, nothing archived", async () => {
    const archiving = await historyToArchive(await databases.create());
    const manifest = join(archiving.directory, "outbox-archive-000001.manifest.json");
    const othersManifest = `${JSON.stringify({ format: "healthcare-outbox-archive/1", rows: 12 })}\n`;
    await writeFile(manifest, othersManifest);

    const command = archiveCommand(archiving);
    const code = await command.exited;

    const output = command.output();
    expect(code, output).toBe(1);
    expect(output.trim()).toBe(
      `audit:archive failed: refusing to archive: ${manifest} exists already, an archive of another history (another database's, or this one's before a restore) that nothing may overwrite; nothing was archived. Archive into a directory of this database's own (--dir)`,
    );
    expect(await readFile(manifest, "utf8")).toBe(othersManifest);
    expect(await readdir(archiving.directory)).toEqual(["outbox-archive-000001.manifest.json"]);
    expect(await archiving.remaining()).toHaveLength(35);
    await archiving.close();
  });
});

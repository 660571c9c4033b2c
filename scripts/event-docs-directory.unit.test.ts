// docs:events refuses a directory argument that names none, with the usage and exit code 2, before it writes
// anything: an empty one (a script's unset variable) was mkdir's "ENOENT ... mkdir ''", exit 1, as if the
// machine were at fault; audit:archive refuses its --dir "" the same way.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { commandOutcome } from "../test/commandOutcome.ts";

// Each test starts the command under tsx, a few seconds on a busy machine.
describe("docs:events' directory", { timeout: 60_000 }, () => {
  it("refuses an empty one, or a file, with the usage, exit code 2", async () => {
    const refused: Array<[string, string]> = [
      ["", "<dir> is empty: give the directory to write into, or none for .data/event-docs"],
      [" ", "<dir> is empty: give the directory to write into, or none for .data/event-docs"],
      ["package.json", "package.json: is a file, not a directory to write into"],
    ];
    const outcomes = await Promise.all(
      refused.map(([dir]) => commandOutcome("scripts/event-docs.ts", [dir])),
    );
    for (const [index, outcome] of outcomes.entries()) {
      const [dir, problem] = refused[index] as [string, string];
      expect({ dir, ...outcome }).toMatchObject({ dir, code: 2, stdout: "" });
      expect(outcome.stderr.split("\n").slice(0, 2)).toEqual([
        problem,
        "usage: npm run docs:events -- [<dir>]",
      ]);
    }
  });

  it("writes the documents into one that does not exist yet", async () => {
    const parent = await mkdtemp(join(tmpdir(), "event-docs-"));
    try {
      const dir = join(parent, "new");
      const outcome = await commandOutcome("scripts/event-docs.ts", [dir]);
      expect(outcome).toMatchObject({ code: 0, stderr: "" });
      expect(await readdir(dir)).toContain("asyncapi.json");
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});

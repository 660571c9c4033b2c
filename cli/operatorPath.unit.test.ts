// `npm run` starts a command in the project's root: a relative path the operator typed means the directory
// they typed it in (npm's INIT_CWD), as every command line tool's does. `cd audit && npm run audit:archive -- --dir
// cli.ts` went on to archive with the project's root as the base, and `--public-key key.pem` beside the
// operator was not found (found by a probe).
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commandOutcome } from "../test/commandOutcome.ts";

const fixture = fileURLToPath(new URL("../audit/fixtures/archive-v1", import.meta.url));
let operatorDirectory: string;
beforeAll(async () => {
  operatorDirectory = await mkdtemp(join(tmpdir(), "operator-path-"));
  await writeFile(join(operatorDirectory, "notes.txt"), "not a directory\n");
  await mkdir(join(operatorDirectory, "archives"));
  await cp(fixture, join(operatorDirectory, "archives"), { recursive: true });
});
afterAll(() => rm(operatorDirectory, { recursive: true, force: true }));

const fromOperator = (script: string, args: string[]) =>
  commandOutcome(script, args, { INIT_CWD: operatorDirectory });

// Each test starts commands under tsx, a few seconds on a busy machine.
describe("a relative path on a command line", { timeout: 60_000 }, () => {
  it("is the operator's: audit:archive refuses --dir naming their file, or a path under it, exit code 2", async () => {
    const outcomes = await Promise.all(
      ["notes.txt", "notes.txt/march"].map((dir) =>
        fromOperator("audit/cli.ts", ["archive", "--dir", dir, "--yes"]),
      ),
    );
    expect(outcomes.map((outcome) => [outcome.code, outcome.stderr.split("\n")[0]])).toEqual([
      [2, "--dir notes.txt: is a file, not a directory to archive into"],
      [2, "--dir notes.txt/march: lies under a file, not a directory to archive into"],
    ]);
  });

  it("is the operator's: audit:verify-archive reads their manifests and public key", async () => {
    const outcome = await fromOperator("audit/cli.ts", [
      "verify-archive",
      "--public-key",
      "archives/signing-key.pub.pem",
      "archives/outbox-archive-000001.manifest.json",
      "archives/outbox-archive-000002.manifest.json",
    ]);
    expect(outcome).toMatchObject({ code: 0, stderr: "" });
    expect(outcome.stdout).toMatch(/^intact: archive 1,.*\nintact: archive 2,/);
  });

  it("is the operator's: docs:events writes into their directory", async () => {
    const outcome = await fromOperator("scripts/event-docs.ts", ["event-docs"]);
    expect(outcome).toMatchObject({ code: 0, stderr: "" });
    expect(await readdir(join(operatorDirectory, "event-docs"))).toContain("asyncapi.json");
  });
});

// A golden archive (format healthcare-outbox-archive/1): two archive files with their manifests, written once
// by audit:archive (audit/archiveHistory.ts) over a small history and committed with the public key that
// signed them. Today's code must accept them as they are, however old they get, and refuse them changed.
// They are never regenerated: a new format adds a folder of its own beside this one.
import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARCHIVE_FORMAT } from "./archive.ts";
import { parseManifest } from "./archiveManifest.ts";
import { verifyingKeyFromPem } from "./signingKey.ts";
import { verifyArchiveFiles } from "./verifyArchiveFile.ts";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));
const fixture = fileURLToPath(new URL("fixtures/archive-v1", import.meta.url));
const manifests = ["outbox-archive-000001.manifest.json", "outbox-archive-000002.manifest.json"];
const publicKeyFile = join(fixture, "signing-key.pub.pem");

let copy: string;
beforeAll(async () => {
  copy = await mkdtemp(join(tmpdir(), "archive-v1-"));
  await cp(fixture, copy, { recursive: true });
});
afterAll(() => rm(copy, { recursive: true, force: true }));

async function fixtureKeys() {
  const { keyId, publicKey } = verifyingKeyFromPem(await readFile(publicKeyFile, "utf8"), publicKeyFile);
  return new Map([[keyId, publicKey]]);
}

/** `npm run audit:verify-archive` as an auditor runs it, with the fixture's public key. */
async function verifyArchiveCommand(
  directory: string,
  manifestPaths = manifests.map((name) => join(directory, name)),
): Promise<{ code: number; output: string; errors: string }> {
  const tsx = join(projectRoot, "node_modules", ".bin", "tsx");
  const args = ["audit/cli.ts", "verify-archive", "--public-key", publicKeyFile, ...manifestPaths];
  return promisify(execFile)(tsx, args, { cwd: projectRoot }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout, errors: stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      output: error.stdout,
      errors: error.stderr,
    }),
  );
}

describe(`the archive format ${ARCHIVE_FORMAT}`, () => {
  it("is the format the golden archive's manifests name", async () => {
    for (const name of manifests) {
      const manifest = parseManifest(await readFile(join(fixture, name), "utf8"));
      expect(manifest.format).toBe(ARCHIVE_FORMAT);
    }
  });

  it("verifies the golden archives as one history: signatures, files, rows, running hash, chains and heads", async () => {
    const reports = await verifyArchiveFiles(
      manifests.map((name) => join(fixture, name)),
      await fixtureKeys(),
    );
    expect(reports).toEqual([
      expect.objectContaining({ intact: true, archive: 1, rows: 10, afterCheckpoint: 0, checkpoint: 1 }),
      expect.objectContaining({
        intact: true,
        archive: 2,
        rows: 8,
        afterCheckpoint: 1,
        checkpoint: 2,
        linksToEarlierArchives: 4,
        linksNotChecked: 0,
      }),
    ]);
  });

  it("is accepted by npm run audit:verify-archive", async () => {
    const { code, output } = await verifyArchiveCommand(fixture);
    expect(output).toContain("intact: archive 1, 10 events");
    expect(output).toContain("intact: archive 2, 8 events");
    expect(code).toBe(0);
  }, 60_000);

  it("is refused with its manifest's row count changed, naming both counts", async () => {
    const changed = await mkdtemp(join(tmpdir(), "archive-v1-rows-"));
    try {
      await cp(fixture, changed, { recursive: true });
      const path = join(changed, manifests[0] as string);
      const manifest = JSON.parse(await readFile(path, "utf8")) as { rows: number };
      await writeFile(path, JSON.stringify({ ...manifest, rows: 9 }));
      const [report] = await verifyArchiveFiles([path], await fixtureKeys());
      expect(report).toMatchObject({
        intact: false,
        brokenLink: {
          archive: 1,
          problem: "it holds 10 rows, the archive record says 10 and its manifest 9",
        },
      });
    } finally {
      await rm(changed, { recursive: true, force: true });
    }
  });

  it("is refused with one byte of an archive file changed", async () => {
    const file = join(copy, "outbox-archive-000002.ndjson.gz");
    const bytes = await readFile(file);
    bytes[bytes.length - 12] = (bytes[bytes.length - 12] ?? 0) ^ 0x01;
    await writeFile(file, bytes);
    const { code, output } = await verifyArchiveCommand(copy);
    expect(output).toContain("intact: archive 1, 10 events");
    expect(output).toContain("BROKEN: archive 2");
    expect(code).toBe(1);
  }, 60_000);

  it("refuses a manifest argument it cannot read or that is no manifest, naming it, without a stack trace", async () => {
    const notJson = join(copy, "export.csv");
    await writeFile(notJson, "firstName,lastName\nAda,Lovelace\n");
    const notManifest = join(copy, "other.json");
    await writeFile(notManifest, "{}");
    for (const [path, problem] of [
      [join(copy, "no-such.manifest.json"), "no such file"],
      [notJson, "not an archive manifest: not JSON"],
      [notManifest, "not an archive manifest: format"],
    ]) {
      const { code, output, errors } = await verifyArchiveCommand(copy, [path as string]);
      expect(code).toBe(2);
      expect(output).toBe("");
      expect(errors).toContain(`${path}: ${problem}`);
      expect(errors).toContain("usage: npm run audit:seal");
      expect(errors).not.toMatch(/^\s+at /m);
      // The file's content is not quoted back.
      expect(errors).not.toContain("Lovelace");
    }
  }, 60_000);

  it("reports an archive whose file is missing beside its manifest as broken", async () => {
    const alone = await mkdtemp(join(tmpdir(), "archive-v1-alone-"));
    try {
      await cp(join(fixture, manifests[0] as string), join(alone, manifests[0] as string));
      const { code, output, errors } = await verifyArchiveCommand(alone, [
        join(alone, manifests[0] as string),
      ]);
      expect(output).toContain("BROKEN: archive 1");
      expect(output).toContain("outbox-archive-000001.ndjson.gz cannot be read beside its manifest");
      expect(errors).not.toMatch(/^\s+at /m);
      expect(code).toBe(1);
    } finally {
      await rm(alone, { recursive: true, force: true });
    }
  }, 60_000);
});

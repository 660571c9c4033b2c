// Verifies archive files offline, from their manifests and the public keys: the archive record's and both
// checkpoints' signatures, the file's sha256, every row against its hash, the running hash from the checkpoint
// it starts after to the one it ends at, the chains inside the file, the chain heads it left behind, and the
// hash of the digests it kept for consumers (each row's event id and payload SHA-256), when it signed one.
// Several archives given in order are verified as one history: each one must begin where the one before
// ended, and a chain's first event in a file links to its last event in an earlier file.
import { createHash, type KeyObject } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import {
  type ArchivedHead,
  type ArchivedRow,
  archiveSignatureIsValid,
  DigestsHash,
  fileSha256,
  fromArchivedRow,
  HeadsHash,
} from "./archive.ts";
import { type ArchiveManifest, parseManifest } from "./archiveManifest.ts";
import type { BrokenLink } from "./brokenLink.ts";
import {
  type Checkpoint,
  checkpointSignatureIsValid,
  extendChain,
  GENESIS,
  sameCheckpoint,
} from "./checkpoint.ts";
import { compareKeys } from "./historySpan.ts";
import { KeySuccession } from "./keySuccession.ts";
import type { HistoryKey } from "./sql/historyRows.ts";
import { attributionProblem, rowProblem } from "./verifyHistory.ts";

export type ArchiveFileReport =
  | {
      intact: true;
      archive: number;
      rows: number;
      afterCheckpoint: number;
      checkpoint: number;
      firstPosition: string | null;
      lastPosition: string | null;
      /** Chains continuing from an archive verified before this one in the same run: first links checked. */
      linksToEarlierArchives: number;
      /** Chains continuing from an earlier archive that was not given: their first link here is not checked. */
      linksNotChecked: number;
    }
  | { intact: false; archive: number | null; rows: number; brokenLink: BrokenLink };

/** Verifies the archives in order, stopping at the first broken one; one report per archive verified. */
export async function verifyArchiveFiles(
  manifestPaths: readonly string[],
  publicKeys: ReadonlyMap<string, KeyObject>,
): Promise<ArchiveFileReport[]> {
  const reports: ArchiveFileReport[] = [];
  // Each aggregate's last archived event so far, when the archives given start the history.
  let earlier: Map<string, ArchivedHead> | null = null;
  let previous: ArchiveManifest | null = null;
  const signers = new KeySuccession();
  const manifests = await readInOrder(manifestPaths);
  for (const [at, manifestPath] of manifestPaths.entries()) {
    const manifest = manifests[at] as ArchiveManifest;
    // The checkpoints the archives end at, in order (and the one the first continues): no key signs after its successor.
    for (const checkpoint of previous || !manifest.after
      ? [manifest.checkpoint]
      : [manifest.after, manifest.checkpoint]) {
      const problem = signers.problemWith(checkpoint);
      if (problem) {
        reports.push({
          intact: false,
          archive: manifest.archive.sequence,
          rows: 0,
          brokenLink: { checkpoint: checkpoint.sequence, problem },
        });
        return reports;
      }
    }
    // The very checkpoint the one before ended at, not one of the same number: a history restored and sealed
    // again numbers its checkpoints anew, and an archive of it could begin after rows no archive given holds.
    if (previous && !sameCheckpoint(manifest.after, previous.checkpoint)) {
      reports.push({
        intact: false,
        archive: manifest.archive.sequence,
        rows: 0,
        brokenLink: {
          archive: manifest.archive.sequence,
          problem:
            manifest.archive.afterCheckpointSequence === previous.archive.checkpointSequence
              ? `it begins after another checkpoint ${previous.archive.checkpointSequence} than the one archive ${previous.archive.sequence} ended at (another running hash, row count or place): the archives are not of one history, or rows lie between them`
              : `it does not begin where archive ${previous.archive.sequence} ended (checkpoint ${previous.archive.checkpointSequence})`,
        },
      });
      return reports;
    }
    if (!previous && manifest.archive.afterCheckpointSequence === 0) earlier = new Map();
    const report = await verifyArchiveFile(manifestPath, manifest, publicKeys, earlier);
    reports.push(report);
    if (!report.intact) return reports;
    previous = manifest;
  }
  return reports;
}

/**
 * The manifests, each read before any archive is verified: one given twice, or before one older than it, is the
 * command line's slip (ManifestUnreadable), not a history that is broken.
 */
async function readInOrder(manifestPaths: readonly string[]): Promise<ArchiveManifest[]> {
  const manifests: ArchiveManifest[] = [];
  for (const manifestPath of manifestPaths) {
    const manifest = await readManifest(manifestPath);
    const before = manifests.at(-1);
    if (before && manifest.archive.sequence <= before.archive.sequence) {
      throw new ManifestUnreadable(
        manifestPath,
        `archive ${manifest.archive.sequence} is given after archive ${before.archive.sequence}: give the manifests oldest first, each once`,
      );
    }
    manifests.push(manifest);
  }
  return manifests;
}

/** A manifest given that cannot be read, or is not one: the argument is wrong, nothing was verified. */
export class ManifestUnreadable extends Error {
  constructor(
    readonly manifestPath: string,
    reason: string,
  ) {
    super(`${manifestPath}: ${reason}`);
    this.name = "ManifestUnreadable";
  }
}

/**
 * The manifest at `manifestPath`, or ManifestUnreadable saying why not. A file that is not JSON is said to be so
 * without JSON.parse's message, which quotes the file's first characters (a patient export given by mistake).
 */
async function readManifest(manifestPath: string): Promise<ArchiveManifest> {
  let text: string;
  try {
    text = await readFile(manifestPath, "utf8");
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    throw new ManifestUnreadable(
      manifestPath,
      code === "ENOENT" ? "no such file" : `cannot be read (${code})`,
    );
  }
  try {
    return parseManifest(text);
  } catch (error) {
    const notJson = error instanceof SyntaxError;
    throw new ManifestUnreadable(
      manifestPath,
      notJson ? "not an archive manifest: not JSON" : (error as Error).message,
    );
  }
}

async function verifyArchiveFile(
  manifestPath: string,
  manifest: ArchiveManifest,
  publicKeys: ReadonlyMap<string, KeyObject>,
  earlier: Map<string, ArchivedHead> | null,
): Promise<ArchiveFileReport> {
  const { archive } = manifest;
  const broken = (rows: number, brokenLink: BrokenLink): ArchiveFileReport => ({
    intact: false,
    archive: archive.sequence,
    rows,
    brokenLink,
  });
  const signed = signaturesProblem(manifest, publicKeys);
  if (signed) return broken(0, signed);
  const file = join(dirname(manifestPath), archive.fileName);
  const sha256 = await fileSha256(file).catch(() => null);
  if (!sha256)
    return broken(0, {
      archive: archive.sequence,
      problem: `${archive.fileName} cannot be read beside its manifest (missing, or not a file)`,
    });
  if (!sha256.equals(archive.fileSha256) || sha256.toString("hex") !== manifest.sha256)
    return broken(0, {
      archive: archive.sequence,
      problem: `${archive.fileName} is not the file that was archived (sha256 differs)`,
    });

  const start: HistoryKey = manifest.after
    ? { txId: manifest.after.upToTxId, position: manifest.after.upToPosition }
    : { txId: GENESIS.upToTxId, position: GENESIS.upToPosition };
  const end: HistoryKey = { txId: archive.upToTxId, position: archive.upToPosition };
  let running = manifest.after?.chainHash ?? GENESIS.chainHash;
  let previousKey = start;
  let rows = 0;
  let firstPosition: string | null = null;
  let lastPosition: string | null = null;
  let linksToEarlierArchives = 0;
  let linksNotChecked = 0;
  const heads = new Map<string, ArchivedHead>();
  // Each row's event id and payload digest, as one string that sorts by event id, when the archive signed their hash.
  const digests: string[] | null = archive.digestsHash === null ? null : [];
  const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === "") continue;
    const archived = JSON.parse(line) as ArchivedRow;
    const row = fromArchivedRow(archived);
    const at = { position: row.position, eventId: row.eventId };
    if (compareKeys(row, previousKey) <= 0 || compareKeys(row, end) > 0)
      return broken(rows, { ...at, problem: "the row is out of order or outside the archive's cut" });
    // The patient it was filed under, which no hash covers, against the one its envelope names (an archive
    // written before the archiver refused a misfiled row may hold one).
    const problem =
      rowProblem(row) ??
      attributionProblem(
        { ...row, patientId: archived.patientId, namedPatientId: namedPatientOf(row.payload) },
        null,
      );
    if (problem) return broken(rows, problem);
    if (row.aggregateVersion !== null) {
      const aggregate = `${row.aggregateType}\u0000${row.aggregateId}`;
      const inFile = heads.get(aggregate);
      const head = inFile ?? earlier?.get(aggregate);
      // Without the earlier archives, a chain's first event here can only be seen to link to something.
      const unchecked = !head && row.aggregateVersion > 1 && earlier === null;
      const linked = head
        ? head.version === row.aggregateVersion - 1 && row.previousHash?.equals(head.hash) === true
        : unchecked
          ? row.previousHash !== null
          : row.aggregateVersion === 1 && row.previousHash === null;
      if (!linked)
        return broken(rows, {
          ...at,
          aggregate: `${row.aggregateType} ${row.aggregateId}`,
          problem: "it does not link to the event before it in the archives",
        });
      if (unchecked) linksNotChecked++;
      else if (!inFile && row.aggregateVersion > 1) linksToEarlierArchives++;
      const last = {
        position: row.position,
        aggregateType: row.aggregateType,
        aggregateId: row.aggregateId,
        version: row.aggregateVersion,
        hash: row.hash,
      };
      heads.set(aggregate, last);
      earlier?.set(aggregate, last);
    }
    digests?.push(`${row.eventId}${createHash("sha256").update(row.payload, "utf8").digest("hex")}`);
    running = extendChain(running, row.hash);
    previousKey = row;
    rows++;
    firstPosition ??= row.position;
    lastPosition = row.position;
  }
  const sealed = (manifest.after?.rowCount ?? 0) + rows;
  if (rows !== archive.rowCount || rows !== manifest.rows)
    return broken(rows, {
      archive: archive.sequence,
      problem: `it holds ${rows} rows, the archive record says ${archive.rowCount} and its manifest ${manifest.rows}`,
    });
  if (sealed !== manifest.checkpoint.rowCount || !running.equals(manifest.checkpoint.chainHash)) {
    return broken(rows, {
      checkpoint: manifest.checkpoint.sequence,
      problem: `the rows do not match checkpoint ${manifest.checkpoint.sequence}: a row was removed, added or moved`,
    });
  }
  const headsHash = new HeadsHash();
  const inPositionOrder = [...heads.values()].sort((a, b) =>
    BigInt(a.position) < BigInt(b.position) ? -1 : 1,
  );
  for (const head of inPositionOrder) headsHash.add(head);
  if (headsHash.count !== archive.headCount || !headsHash.digest().equals(archive.headsHash))
    return broken(rows, {
      archive: archive.sequence,
      problem: "the chain heads of its rows are not the ones it recorded",
    });
  if (digests && archive.digestsHash && !digestsHashOf(digests)?.equals(archive.digestsHash))
    return broken(rows, {
      archive: archive.sequence,
      problem: "the digests of its rows' payloads are not the ones it kept for consumers (their signed hash)",
    });
  return {
    intact: true,
    archive: archive.sequence,
    rows,
    afterCheckpoint: archive.afterCheckpointSequence,
    checkpoint: archive.checkpointSequence,
    firstPosition,
    lastPosition,
    linksToEarlierArchives,
    linksNotChecked,
  };
}

/** The envelope's `data.patientId` as the outbox reads it (`payload -> 'data' ->> 'patientId'`): text, or null. */
function namedPatientOf(payload: string): string | null {
  let named: unknown;
  try {
    named = (JSON.parse(payload) as { data?: { patientId?: unknown } }).data?.patientId;
  } catch {
    return null;
  }
  if (named === undefined || named === null) return null;
  return typeof named === "string" ? named : JSON.stringify(named);
}

/**
 * The hash of the digests an archive kept, made from its rows: `<event id><payload sha256 hex>` each, sorted by
 * event id (the canonical text's order, its bytes'); null when they are no archive's (an event id twice).
 */
function digestsHashOf(digests: string[]): Buffer | null {
  const hash = new DigestsHash();
  try {
    for (const digest of digests.sort())
      hash.add({ eventId: digest.slice(0, 36), payloadSha256: Buffer.from(digest.slice(36), "hex") });
  } catch {
    return null;
  }
  return hash.digest();
}

/** The archive record and both checkpoints, signed by known keys, and consistent with each other. */
function signaturesProblem(
  manifest: ArchiveManifest,
  publicKeys: ReadonlyMap<string, KeyObject>,
): BrokenLink | null {
  const { archive, checkpoint, after } = manifest;
  const archiveKey = publicKeys.get(archive.keyId);
  if (!archiveKey || !archiveSignatureIsValid(archive, archiveKey))
    return { archive: archive.sequence, problem: "the archive record is not validly signed by a known key" };
  for (const sealed of after ? [after, checkpoint] : [checkpoint]) {
    if (!checkpointIsSigned(sealed, publicKeys))
      return { checkpoint: sealed.sequence, problem: "the checkpoint is not validly signed by a known key" };
  }
  const consistent =
    checkpoint.sequence === archive.checkpointSequence &&
    checkpoint.upToTxId === archive.upToTxId &&
    checkpoint.upToPosition === archive.upToPosition &&
    (after?.sequence ?? 0) === archive.afterCheckpointSequence &&
    manifest.file === archive.fileName;
  return consistent
    ? null
    : {
        archive: archive.sequence,
        problem: "the manifest's checkpoints or file are not the ones the archive record names",
      };
}

function checkpointIsSigned(checkpoint: Checkpoint, publicKeys: ReadonlyMap<string, KeyObject>): boolean {
  const key = publicKeys.get(checkpoint.keyId);
  return key !== undefined && checkpointSignatureIsValid(checkpoint, key);
}

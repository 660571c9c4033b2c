// Moves the history older than the retention period out of the outbox into an archive file (gzip NDJSON, one
// row a line) with a manifest beside it. The cut is always a sealed checkpoint's cursor, so what remains starts
// from that checkpoint's signed running hash; the rows are checked against it before they leave, and deleted
// in the transaction that records the archive, the only one the outbox lets delete them, which keeps each
// one's event id and payload digest for consumers, under a hash the archive signs.
import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import type pg from "pg";
import type { Progress } from "../cli/progress.ts";
import {
  type ArchiveRecord,
  DigestsHash,
  fileSha256,
  HeadsHash,
  signArchive,
  toArchivedRow,
} from "./archive.ts";
import { type ArchiveManifest, manifestText, parseManifest } from "./archiveManifest.ts";
import { describeBrokenLink } from "./brokenLink.ts";
import { type Checkpoint, checkpointSignatureIsValid, extendChain, sameCheckpoint } from "./checkpoint.ts";
import { type Anchor, anchorAt, type HistorySpan, START_OF_HISTORY } from "./historySpan.ts";
import type { SigningKey } from "./signingKey.ts";
import {
  allArchives,
  archiveHeadsBatch,
  deleteArchivedRows,
  digestsToKeep,
  firstRowCreatedSince,
  recordArchive,
  recordArchivedDigests,
  recordArchiveHeads,
  relaysBehind,
  rowsToArchive,
  type StoredArchive,
} from "./sql/archives.ts";
import { checkpointBySequence, lastCheckpointBefore, latestCheckpoint } from "./sql/checkpoints.ts";
import type { HistoryKey, HistoryRow } from "./sql/historyRows.ts";
import { archiveRecordsProblem } from "./verifyArchiveRecords.ts";
import { rowProblem, verifyResolvedSpan } from "./verifyHistory.ts";

const DAY_MS = 86_400_000;
const BATCH = 5_000;

export interface ArchiveOptions {
  retentionDays: number;
  /** Where the archive file and its manifest are written. */
  directory: string;
  /** The present the retention period counts back from. */
  now?: Date;
  /** Reports rows as they are written to the file (a long command's progress), given how many there will be. */
  progress?: (rows: number) => Pick<Progress, "advance">;
}

export type ArchiveOutcome =
  | { archived: ArchiveRecord; file: string; manifest: string }
  | { archived: null; reason: string };

/** Archives what is both older than the retention period and sealed; refuses (throws) rather than archive a broken history. */
export async function archiveHistory(
  client: pg.ClientBase,
  key: SigningKey,
  options: ArchiveOptions,
): Promise<ArchiveOutcome> {
  const createdBefore = new Date((options.now ?? new Date()).getTime() - options.retentionDays * DAY_MS);
  const written: string[] = [];
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('outbox-archive'))");
    const archives = await allArchives(client);
    const previous = archives.at(-1);
    const after = previous ? await anchorOfArchive(client, previous) : START_OF_HISTORY;
    const cut = await cutFor(client, after, createdBefore);
    if (!cut) {
      await client.query("ROLLBACK");
      return {
        archived: null,
        reason: `no checkpoint after checkpoint ${after.checkpoint} seals only events created before ${createdBefore.toISOString()} (the ${options.retentionDays}-day retention period)`,
      };
    }
    // The archive is signed as continuing these two checkpoints: it vouches for nothing their key did not sign.
    for (const checkpoint of [after.sealed, cut]) {
      if (checkpoint && !signedBy(checkpoint, key)) {
        throw new Error(
          `refusing to archive: checkpoint ${checkpoint.sequence} is signed neither by this key (${key.keyId}) nor by one it replaced, or its signature does not match its content; run npm run audit:verify`,
        );
      }
    }
    const cutKey = { txId: cut.upToTxId, position: cut.upToPosition };
    await refuseBrokenSpan(client, key, archives, {
      anchor: after,
      through: cutKey,
      archivedRows: after.rowCount,
    });
    const behind = await relaysBehind(client, cutKey);
    if (behind.length > 0) {
      throw new Error(
        `the relay ${behind.join(", ")} has not yet delivered every event up to checkpoint ${cut.sequence}; archive once it has`,
      );
    }

    const sequence = (previous?.sequence ?? 0) + 1;
    const base = `outbox-archive-${String(sequence).padStart(6, "0")}`;
    const fileName = `${base}.ndjson.gz`;
    const file = join(options.directory, fileName);
    const manifestFile = join(options.directory, `${base}.manifest.json`);
    await mkdir(options.directory, { recursive: true });
    const [firstRow] = await rowsToArchive(client, after.cursor, cutKey, 1);
    await removeStoppedAttempt(client, { file, manifestFile, sequence, after }, firstRow);
    // The manifest first, saying who writes the archive until the archive record replaces it.
    for (const [path, content] of [
      [manifestFile, writingMarker()],
      [file, ""],
    ] as const) {
      await createNew(path, content);
      written.push(path);
    }
    written.push(partialOf(manifestFile));
    const progress = options.progress?.(cut.rowCount - after.rowCount);
    const rows = await writeArchiveFile(client, file, after, cut, progress);

    await recordArchiveHeads(client, sequence, after.cursor, cutKey);
    const heads = await headsHashOf(client, sequence);
    const digests = await digestsHashOf(client, after.cursor, cutKey);
    assert(
      digests.count === rows.count,
      `archived ${rows.count} rows but digested ${digests.count}; nothing was archived`,
    );
    const unsigned = {
      sequence,
      checkpointSequence: cut.sequence,
      afterCheckpointSequence: after.checkpoint,
      upToTxId: cut.upToTxId,
      upToPosition: cut.upToPosition,
      rowCount: rows.count,
      headCount: heads.count,
      headsHash: heads.digest(),
      digestsHash: digests.digest(),
      fileName,
      fileSha256: rows.sha256,
      createdBefore,
      keyId: key.keyId,
      archivedAt: new Date(),
    };
    const archived: ArchiveRecord = { ...unsigned, signature: signArchive(unsigned, key.privateKey) };
    const manifest: ArchiveManifest = {
      format: "healthcare-outbox-archive/1",
      file: fileName,
      sha256: rows.sha256.toString("hex"),
      rows: rows.count,
      after: after.sealed,
      checkpoint: cut,
      archive: archived,
    };
    await replaceDurably(manifestFile, manifestText(manifest));

    await recordArchive(client, archived);
    // What consumers check a record of an archived event against; the outbox deletes no row without it. The
    // same rows, digested by the same expression, as the signed hash: the outbox changes none of them.
    const kept = await recordArchivedDigests(client, sequence, after.cursor, cutKey);
    assert(
      kept === digests.count,
      `signed the hash of ${digests.count} digests but kept ${kept}; nothing was archived`,
    );
    const deleted = await deleteArchivedRows(client, after.cursor, cutKey);
    assert(
      deleted === rows.count,
      `archived ${rows.count} rows but the outbox deleted ${deleted}; nothing was deleted`,
    );
    await client.query("COMMIT");
    return { archived, file, manifest: manifestFile };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    for (const path of written) await rm(path, { force: true });
    throw error;
  }
}

/**
 * Refuses to archive a span that audit:verify would find broken: the archive records before it, and in the span
 * every checkpoint (signed, none missing), every row (its hash, its chain link, the patient it is filed under).
 * Archived, a broken span would leave the outbox with nothing to show what was wrong: its rows deleted, the
 * remaining history anchored on the cut, and the archive signing what it was given.
 */
async function refuseBrokenSpan(
  client: pg.ClientBase,
  key: SigningKey,
  archives: StoredArchive[],
  span: HistorySpan,
): Promise<void> {
  const brokenLink =
    (await archiveRecordsProblem(client, archives, key.trusted)) ??
    (await verifyResolvedSpan(client, key.trusted, span).then((report) =>
      report.intact ? null : report.brokenLink,
    ));
  if (brokenLink) {
    throw new Error(
      `refusing to archive: the history it would archive is broken (${describeBrokenLink(brokenLink)}); nothing was archived; run npm run audit:verify`,
    );
  }
}

/** Signed by the key, or by one it replaced (audit/signingKey.ts). */
function signedBy(checkpoint: Checkpoint, key: SigningKey): boolean {
  const publicKey = key.trusted.get(checkpoint.keyId);
  return publicKey !== undefined && checkpointSignatureIsValid(checkpoint, publicKey);
}

/** Where the previous archive left the history: its checkpoint, whose running hash the next one continues. */
async function anchorOfArchive(client: pg.ClientBase, archive: ArchiveRecord): Promise<Anchor> {
  const checkpoint = await checkpointBySequence(client, archive.checkpointSequence);
  if (!checkpoint) throw new Error(`archive ${archive.sequence} ends at a checkpoint that is missing`);
  return anchorAt(checkpoint);
}

/** The last checkpoint after the previous cut that seals only events created before the cutoff. */
async function cutFor(client: pg.ClientBase, after: Anchor, createdBefore: Date): Promise<Checkpoint | null> {
  const youngest = await firstRowCreatedSince(client, after.cursor, createdBefore);
  const cut = youngest
    ? await lastCheckpointBefore(client, youngest, after.checkpoint + 1)
    : await latestCheckpoint(client);
  return cut && cut.sequence > after.checkpoint ? cut : null;
}

/**
 * Writes the rows after the anchor up to the cut, checking each against its hash and all of them against the
 * cut's running hash and row count: an archive holds exactly what the checkpoint sealed, or is not made.
 */
async function writeArchiveFile(
  client: pg.ClientBase,
  file: string,
  after: Anchor,
  cut: Checkpoint,
  progress: Pick<Progress, "advance"> | undefined,
): Promise<{ count: number; sha256: Buffer }> {
  const through: HistoryKey = { txId: cut.upToTxId, position: cut.upToPosition };
  let running = after.chainHash;
  let count = 0;
  async function* lines() {
    let cursor = after.cursor;
    for (;;) {
      const batch = await rowsToArchive(client, cursor, through, BATCH);
      for (const row of batch) {
        const problem = rowProblem(row);
        if (problem) throw new Error(`refusing to archive: position ${row.position}: ${problem.problem}`);
        running = extendChain(running, row.hash);
        count++;
        yield `${JSON.stringify(toArchivedRow(row))}\n`;
      }
      progress?.advance(batch.length);
      const last = batch.at(-1);
      if (last) cursor = { txId: last.txId, position: last.position };
      if (batch.length < BATCH) return;
    }
  }
  const handle = await open(file, "w");
  await pipeline(Readable.from(lines()), createGzip(), handle.createWriteStream());
  const synced = await open(file, "r+");
  await synced.sync().finally(() => synced.close());
  if (after.rowCount + count !== cut.rowCount || !running.equals(cut.chainHash)) {
    throw new Error(
      `refusing to archive: the rows up to checkpoint ${cut.sequence} do not match it (${after.rowCount + count} rows, ${cut.rowCount} sealed); run npm run audit:verify`,
    );
  }
  return { count, sha256: await fileSha256(file) };
}

async function headsHashOf(client: pg.ClientBase, archiveSequence: number): Promise<HeadsHash> {
  const heads = new HeadsHash();
  let after = "0";
  for (;;) {
    const batch = await archiveHeadsBatch(client, archiveSequence, after, BATCH);
    for (const head of batch) heads.add(head);
    const last = batch.at(-1);
    if (last) after = last.position;
    if (batch.length < BATCH) return heads;
  }
}

/** The hash over the digests archiving will keep for the rows after `after` through `through`. */
async function digestsHashOf(
  client: pg.ClientBase,
  after: HistoryKey,
  through: HistoryKey,
): Promise<DigestsHash> {
  const digests = new DigestsHash();
  for await (const batch of digestsToKeep(client, after, through, BATCH)) {
    for (const digest of batch) digests.add(digest);
  }
  return digests;
}

/**
 * What a manifest holds while its archive is written: the process writing it. The manifest is replaced by the
 * signed one before the transaction that records the archive and deletes its rows, so a manifest that still
 * holds this belongs to an archive that recorded and deleted nothing.
 */
const WRITING = "healthcare-outbox-archive/writing";

function writingMarker(): string {
  return `${JSON.stringify({ format: WRITING, pid: process.pid, host: hostname(), startedAt: new Date() })}\n`;
}

/**
 * Removes the files an archive of this sequence left when its process was stopped before the end (Ctrl-C, a
 * kill, a crash): its manifest still names it as the writer, and it runs no more. It had recorded and deleted
 * nothing, so its files hold only rows the outbox still holds. Holding the archive lock, no archive of this
 * database writes them; one whose writer may still run (on another host, or a live process: another
 * database's archive into the same directory) is refused, naming the writer. Removed too: the files of one killed
 * after it signed, before it committed (isUncommittedAttempt): its signed manifest names no writer any more.
 */
async function removeStoppedAttempt(
  client: pg.ClientBase,
  attempt: { file: string; manifestFile: string; sequence: number; after: Anchor },
  firstRow: HistoryRow | undefined,
): Promise<void> {
  const { file, manifestFile } = attempt;
  const text = await readFile(manifestFile, "utf8").catch(() => null);
  if (text === "") return removeUnsignedAttempt(file, manifestFile, firstRow);
  if (text !== null && (await isUncommittedAttempt(client, text, attempt))) {
    await rm(file, { force: true });
    await rm(manifestFile, { force: true });
    return;
  }
  const writer = text === null ? null : writerOf(text);
  if (!writer) return;
  if (writer.host !== hostname() || (writer.pid !== process.pid && processRuns(writer.pid))) {
    throw new Error(
      `refusing to archive: ${manifestFile} is being written by process ${writer.pid} on ${writer.host} (since ` +
        `${writer.startedAt}), another archive into this directory, unless that one was stopped; nothing was ` +
        `archived. If no archive runs there, remove ${manifestFile} and ${file} and archive again`,
    );
  }
  await rm(file, { force: true });
  await rm(manifestFile, { force: true });
}

/**
 * A signed manifest of this very archive whose transaction never committed: its process was killed (or the
 * machine stopped) between syncing the signed manifest and committing. It names the sequence this archive is
 * to take, which no recorded archive has (the archive lock is held, and `after` is the last recorded one's
 * cut), after the same checkpoint, up to a checkpoint this database holds, identical: every row its file holds
 * is one that checkpoint sealed and no archive deleted, so the outbox still holds it, and the files are
 * replaced. A manifest of another history, or of this one before a restore, differs in one of these and is
 * refused as such (createNew).
 */
async function isUncommittedAttempt(
  client: pg.ClientBase,
  text: string,
  attempt: { sequence: number; after: Anchor },
): Promise<boolean> {
  let manifest: ArchiveManifest;
  try {
    manifest = parseManifest(text);
  } catch {
    return false;
  }
  const { archive, checkpoint } = manifest;
  if (archive.sequence !== attempt.sequence || archive.afterCheckpointSequence !== attempt.after.checkpoint)
    return false;
  if (!sameCheckpoint(manifest.after, attempt.after.sealed)) return false;
  return sameCheckpoint(checkpoint, await checkpointBySequence(client, checkpoint.sequence));
}

/**
 * An empty manifest: the archive that created it stopped before it signed. Before manifests named their writer,
 * an archive created its file and its manifest empty and wrote the manifest only once signed; now one stopped
 * between creating its manifest and writing its writer in it leaves it so. The signed manifest is synced before
 * the transaction that records the archive and deletes its rows commits, so an empty one's archive recorded and
 * deleted nothing, whoever wrote it. Whether its writer still runs it does not say: the files are removed when
 * the archive file holds nothing (an archive stopped before it created it), or begins with the very row this
 * archive starts with (an attempt at this archive of this history, whose writers all hold the archive lock this
 * one holds). Anything else (an archive file of another history, or one that holds no row yet) may be another
 * database's archive into this directory still being written, and is refused, naming both files.
 */
async function removeUnsignedAttempt(
  file: string,
  manifestFile: string,
  firstRow: HistoryRow | undefined,
): Promise<void> {
  const beginning = await firstLineOf(file);
  const ours = beginning.kind === "line" && firstRow !== undefined && beginsWith(beginning.line, firstRow);
  if (beginning.kind === "absent" || ours) {
    await rm(file, { force: true });
    await rm(manifestFile, { force: true });
    return;
  }
  const why =
    beginning.kind === "line"
      ? `begins with another row than this archive's first (position ${firstRow?.position ?? "-"})`
      : beginning.kind === "empty"
        ? "holds no whole row yet"
        : `is not an archive file (${beginning.reason})`;
  throw new Error(
    `refusing to archive: ${manifestFile} is empty, left by an archive stopped before it signed, which recorded ` +
      `and deleted nothing; but ${file} ${why}, so it may be another database's archive into this directory, ` +
      `still being written; nothing was archived. If no other archive writes into this directory, remove ` +
      `${manifestFile} and ${file} and archive again`,
  );
}

type ArchiveBeginning =
  | { kind: "absent" }
  | { kind: "empty" }
  | { kind: "line"; line: string }
  | { kind: "unreadable"; reason: string };

/** The first line of a gzip archive file that may have been cut off anywhere (its writer stopped). */
async function firstLineOf(file: string): Promise<ArchiveBeginning> {
  const source = createReadStream(file);
  const gunzip = createGunzip();
  source.on("error", (error) => gunzip.destroy(error));
  source.pipe(gunzip);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      if (chunk.includes(0x0a)) break;
    }
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === "ENOENT") return { kind: "absent" };
    // Cut off before its first line was compressed: gzip's header, or less.
    if (code !== "Z_BUF_ERROR") return { kind: "unreadable", reason: message };
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  const text = Buffer.concat(chunks);
  const end = text.indexOf(0x0a);
  return end < 0 ? { kind: "empty" } : { kind: "line", line: text.subarray(0, end).toString("utf8") };
}

/** Whether an archive file's first line is this row: its place in the history and its hash. */
function beginsWith(line: string, row: HistoryRow): boolean {
  try {
    const archived = JSON.parse(line) as { txId?: unknown; position?: unknown; hash?: unknown };
    return (
      archived.txId === row.txId &&
      archived.position === row.position &&
      archived.hash === row.hash.toString("hex")
    );
  } catch {
    return false;
  }
}

function writerOf(text: string): { pid: number; host: string; startedAt: string } | null {
  try {
    const marker = JSON.parse(text) as {
      format?: unknown;
      pid?: unknown;
      host?: unknown;
      startedAt?: unknown;
    };
    if (marker.format !== WRITING || !Number.isSafeInteger(marker.pid) || typeof marker.host !== "string")
      return null;
    return { pid: marker.pid as number, host: marker.host, startedAt: String(marker.startedAt) };
  } catch {
    return null;
  }
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/**
 * Creates `file` with `content`, refusing one that exists: an archive of the same sequence number from another
 * database archived into the same directory, or from this one before it was restored from a backup. Its
 * history is deleted from its outbox: written over, or removed when this archive fails, it would be lost.
 */
async function createNew(file: string, content: string): Promise<void> {
  try {
    await writeDurably(file, content, "wx");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    throw new Error(
      `refusing to archive: ${file} exists already, an archive of another history (another database's, or ` +
        "this one's before a restore) that nothing may overwrite; nothing was archived. Archive into a directory of " +
        "this database's own (--dir)",
    );
  }
}

/**
 * Puts `text` in place of `file` whole or not at all: written beside it, synced, renamed over it, and the rename
 * synced. Written in place, a crash (a power loss) in the middle would leave half a signed manifest, which the
 * next run could read neither as this database's unfinished archive nor as anything else.
 */
async function replaceDurably(file: string, text: string): Promise<void> {
  const written = partialOf(file);
  await writeDurably(written, text);
  await rename(written, file);
  const directory = await open(dirname(file), "r");
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

/** Where replaceDurably writes a file's new text before it takes the file's place. */
const partialOf = (file: string) => `${file}.partial`;

/** Writes `text` to `file` and syncs it to disk; `"wx"` refuses a file that exists (EEXIST). */
async function writeDurably(file: string, text: string, flag: "w" | "wx" = "w"): Promise<void> {
  const handle = await open(file, flag);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// The archives recorded in the database, checked before what remains is: each one signed, the next after the
// previous, cut exactly at its checkpoint, holding the rows that checkpoint sealed since the previous cut, with
// the chain heads it left behind and the archived events' digests it kept matching their signed hashes (a digest
// changed or added would pass a forged record as archived: consumers/runtime/inbox.ts); the digests kept before
// archives signed them (migration 0031) as many as the events their archives moved out; no digest of no archive;
// and no row left at or before the newest cut.
import type { KeyObject } from "node:crypto";
import type pg from "pg";
import { archiveSignatureIsValid, DigestsHash, HeadsHash } from "./archive.ts";
import type { BrokenLink } from "./brokenLink.ts";
import { checkpointSignatureIsValid } from "./checkpoint.ts";
import {
  archiveDigestsBatch,
  archivedDigestCounts,
  archiveHeadsBatch,
  type StoredArchive,
} from "./sql/archives.ts";
import { checkpointBySequence } from "./sql/checkpoints.ts";
import { firstRowThrough } from "./sql/historyRows.ts";

const BATCH = 5_000;

export async function archiveRecordsProblem(
  client: pg.ClientBase,
  archives: readonly StoredArchive[],
  publicKeys: ReadonlyMap<string, KeyObject>,
): Promise<BrokenLink | null> {
  let afterCheckpoint = 0;
  let rowsBefore = 0;
  // Which archives may lack what later ones have: digests kept (before 0029), their signed hash (before 0031).
  let firstKeeping: number | null = null;
  let firstHashed: number | null = null;
  // The events archived by the archives that kept digests before 0031: as many digests belong to no archive.
  let digestsWithoutArchive = 0;
  let digestsKept = 0;
  for (const [index, archive] of archives.entries()) {
    const broken = (problem: string): BrokenLink => ({ archive: archive.sequence, problem });
    if (archive.sequence !== index + 1) return broken(`archive ${index + 1} before it is missing`);
    const key = publicKeys.get(archive.keyId);
    if (!key) return broken(`signed by unknown key ${archive.keyId}`);
    if (!archiveSignatureIsValid(archive, key)) return broken("its signature does not match its content");
    if (archive.afterCheckpointSequence !== afterCheckpoint)
      return broken(`it does not begin where the archive before it ended (checkpoint ${afterCheckpoint})`);
    const checkpoint = await checkpointBySequence(client, archive.checkpointSequence);
    if (!checkpoint) return broken(`the checkpoint it ends at (${archive.checkpointSequence}) is missing`);
    const checkpointKey = publicKeys.get(checkpoint.keyId);
    if (!checkpointKey || !checkpointSignatureIsValid(checkpoint, checkpointKey)) {
      return {
        archive: archive.sequence,
        checkpoint: checkpoint.sequence,
        problem: "the checkpoint it ends at is not validly signed by a known key",
      };
    }
    if (checkpoint.upToTxId !== archive.upToTxId || checkpoint.upToPosition !== archive.upToPosition)
      return broken(`its cut is not the cursor of checkpoint ${checkpoint.sequence}`);
    if (archive.rowCount !== checkpoint.rowCount - rowsBefore)
      return broken(
        `it holds ${archive.rowCount} rows, but checkpoint ${checkpoint.sequence} sealed ${checkpoint.rowCount - rowsBefore} since the previous cut`,
      );
    const heads = new HeadsHash();
    let after = "0";
    for (;;) {
      const batch = await archiveHeadsBatch(client, archive.sequence, after, BATCH);
      for (const head of batch) heads.add(head);
      const last = batch.at(-1);
      if (last) after = last.position;
      if (batch.length < BATCH) break;
    }
    if (heads.count !== archive.headCount || !heads.digest().equals(archive.headsHash))
      return broken(
        "the chain heads it left behind do not match its signed hash: a head was changed, added or removed",
      );
    const digestsProblem = await digestsProblemOf(client, archive, { firstKeeping, firstHashed });
    if (digestsProblem) return broken(digestsProblem);
    if (archive.digestsKept) {
      firstKeeping ??= archive.sequence;
      digestsKept += archive.rowCount;
      if (archive.digestsHash === null) digestsWithoutArchive += archive.rowCount;
    }
    if (archive.digestsHash !== null) firstHashed ??= archive.sequence;
    afterCheckpoint = archive.checkpointSequence;
    rowsBefore = checkpoint.rowCount;
  }
  // The digests of no signed hash: only those kept before archives signed one, as many as those archives moved out.
  const digests = await archivedDigestCounts(client);
  if (digests.withoutArchive !== digestsWithoutArchive) {
    return {
      problem: `outbox_archived_digests holds ${digests.withoutArchive} digests of no archive, but the archives that kept digests before they signed their hash (migration 0031) archived ${digestsWithoutArchive} events: a digest was added or removed`,
    };
  }
  // And every other digest belongs to an archive whose hash covers it: one given an archive never recorded, or one
  // that has no hash, makes the whole table hold more than the archives moved out.
  if (digests.kept !== digestsKept) {
    return {
      problem: `outbox_archived_digests holds ${digests.kept} digests, but the archives that keep them archived ${digestsKept} events: a digest was added to no archive that covers it`,
    };
  }
  const newest = archives.at(-1);
  if (newest) {
    const stray = await firstRowThrough(client, { txId: newest.upToTxId, position: newest.upToPosition });
    if (stray) {
      return {
        archive: newest.sequence,
        position: stray.position,
        eventId: stray.eventId,
        problem:
          "the row lies at or before the cut of an archive, which moved every such row out: it was added",
      };
    }
  }
  return null;
}

/**
 * The digests an archive kept, against what it says: an archive that signed their hash kept exactly the digests
 * that hash covers, one per event it archived; one without a hash is one recorded before archives signed it, so no
 * archive after one that has it lacks it, and none after one that kept digests kept none. The flags are not
 * signed (an administrator can change them), so each is believed only where the signed hash cannot be: failing
 * closed, a record nulled or flipped to look older than it is is found.
 */
async function digestsProblemOf(
  client: pg.ClientBase,
  archive: StoredArchive,
  earlier: { firstKeeping: number | null; firstHashed: number | null },
): Promise<string | null> {
  if (archive.digestsHash === null) {
    if (earlier.firstHashed !== null)
      return `it has no hash of its events' digests, though archive ${earlier.firstHashed} before it has one: only archives recorded before migration 0031 have none`;
    if (!archive.digestsKept && earlier.firstKeeping !== null)
      return `it says it kept no digests of its events, though archive ${earlier.firstKeeping} before it kept them: only archives recorded before migration 0029 kept none`;
    return null;
  }
  if (!archive.digestsKept) return "it says it kept no digests of its events, though it signed their hash";
  const digests = new DigestsHash();
  let after: string | null = null;
  for (;;) {
    const batch = await archiveDigestsBatch(client, archive.sequence, after, BATCH);
    for (const digest of batch) digests.add(digest);
    const last = batch.at(-1);
    if (last) after = last.eventId;
    if (batch.length < BATCH) break;
  }
  if (digests.count !== archive.rowCount || !digests.digest().equals(archive.digestsHash))
    return `the digests it kept of its events (${digests.count}, for ${archive.rowCount} events) do not match its signed hash: a digest was changed, added or removed`;
  return null;
}

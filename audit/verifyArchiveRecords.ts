// The archives recorded in the database, checked before what remains is: each one signed, the next after the
// previous, cut exactly at its checkpoint, holding the rows that checkpoint sealed since the previous cut, with
// the chain heads it left behind matching their signed hash; as many archived events' digests kept as those
// archives moved out (a digest added would pass a forged record as archived: consumers/runtime/inbox.ts); and no
// row left at or before the newest cut.
import type { KeyObject } from "node:crypto";
import type pg from "pg";
import { type ArchiveRecord, archiveSignatureIsValid, HeadsHash } from "./archive.ts";
import type { BrokenLink } from "./brokenLink.ts";
import { checkpointSignatureIsValid } from "./checkpoint.ts";
import { archivedDigestCounts, archiveHeadsBatch } from "./sql/archives.ts";
import { checkpointBySequence } from "./sql/checkpoints.ts";
import { firstRowThrough } from "./sql/historyRows.ts";

const BATCH = 5_000;

export async function archiveRecordsProblem(
  client: pg.ClientBase,
  archives: readonly ArchiveRecord[],
  publicKeys: ReadonlyMap<string, KeyObject>,
): Promise<BrokenLink | null> {
  let afterCheckpoint = 0;
  let rowsBefore = 0;
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
    afterCheckpoint = archive.checkpointSequence;
    rowsBefore = checkpoint.rowCount;
  }
  const digests = await archivedDigestCounts(client);
  if (digests.kept !== digests.archived) {
    return {
      problem: `outbox_archived_digests holds ${digests.kept} digests, but the archives that keep them archived ${digests.archived} events: a digest was added or removed`,
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

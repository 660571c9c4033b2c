// Verifies the history, whole or a range of it: every row against its own hash, every aggregate's chain link by
// link, and the signed checkpoints against the running hash of the rows they cover. Reports the first broken
// link, and exactly which span was verified (see historySpan.ts for where a span starts and ends).
import type { KeyObject } from "node:crypto";
import type pg from "pg";
import type { Progress } from "../cli/progress.ts";
import { eventHash } from "../db/outbox/eventHash.ts";
import type { BrokenLink } from "./brokenLink.ts";
import { type Checkpoint, checkpointSignatureIsValid, extendChain, isStampedTime } from "./checkpoint.ts";
import { checkRange, compareKeys, type HistoryRange, type HistorySpan, resolveSpan } from "./historySpan.ts";
import { KeySuccession } from "./keySuccession.ts";
import { allArchives } from "./sql/archives.ts";
import { checkpointBySequence, checkpointsAfter, latestCheckpoint } from "./sql/checkpoints.ts";
import {
  type AttributedRow,
  aggregatesWithMissingHead,
  firstAttributedRow,
  type HeadMismatch,
  type HistoryKey,
  type HistoryRow,
  historyBatch,
  type PreviousVersion,
  previousVersions,
} from "./sql/historyRows.ts";
import { archiveRecordsProblem } from "./verifyArchiveRecords.ts";

/** The span verified: right after a signed checkpoint, through a row or to the end of the history. */
export interface VerifiedRange {
  /** Verification started right after this checkpoint (0: the start of the history), from its signed running hash. */
  afterCheckpoint: number;
  /** That checkpoint's last row; null at the start of the history. */
  afterPosition: string | null;
  /** Rows before the span, sealed by that checkpoint: not read here. */
  rowsBefore: number;
  /** Of those, the rows moved out to archive files (`npm run audit:verify-archive` checks a file). */
  archivedRows: number;
  /** The span's last row as asked for; null: the end of the history, whose chain heads were checked too. */
  throughPosition: string | null;
}

export type VerificationReport =
  | {
      intact: true;
      range: VerifiedRange;
      /** Rows verified, all of them in the span. */
      rows: number;
      /** Checkpoints inside the span whose running hash and row count were recomputed. */
      checkpoints: number;
      /** Aggregates with events in the span. */
      chainedAggregates: number;
      /** Links from rows in the span to the previous event before the span, checked against its stored hash only. */
      linksToEarlierRows: number;
      /** Links from rows in the span to an archived previous event, checked against the hash its archive recorded. */
      linksToArchivedRows: number;
      upToPosition: string | null;
      /**
       * The last signed checkpoint of the span (its anchor when none is inside it; null: none yet). Kept outside
       * the platform, it anchors the next verification: the history must still hold it, unchanged.
       */
      lastCheckpoint: CheckpointMark | null;
    }
  | { intact: false; range: VerifiedRange | null; rows: number; brokenLink: BrokenLink };

/** A checkpoint as an auditor writes it down. */
export interface CheckpointMark {
  sequence: number;
  /** The running hash it signs, hexadecimal. */
  chainHash: string;
  rowCount: number;
  sealedAt: string;
}

const BATCH = 5_000;
/** How many aggregates' last verified rows are kept to check the next link against without a query. */
const RECENT_AGGREGATES = 100_000;

/** A checkpoint as a verifier remembers it (written down from an earlier report): enough to tell it from any other. */
export interface RememberedCheckpoint {
  sequence: number;
  chainHash: Buffer;
}

export interface VerifyOptions {
  /**
   * A checkpoint an earlier verification reported (its `lastCheckpoint`): the history must still hold it,
   * unchanged. Checkpoints rolled back, with rows rewritten behind them and signed again, are found so.
   */
  expectCheckpoint?: RememberedCheckpoint;
  /**
   * Reports rows as they are verified (a long command's progress). Called once the span is known, with the
   * rows its checkpoints seal as an estimate of its size (the unsealed tail is not counted; none: unknown).
   */
  progress?: (estimatedRows: number | undefined) => Pick<Progress, "advance">;
}

/**
 * Verifies the span a range names (the whole history when it names none). Throws RangeProblem for a bad range.
 * Reads one snapshot, in a read-only transaction of its own (the client must have none open): an archive that
 * committed between its reading of the archives and of the rows would otherwise have removed rows it expected,
 * and a history intact before and after reported broken.
 */
export async function verifyHistory(
  client: pg.ClientBase,
  publicKeys: ReadonlyMap<string, KeyObject>,
  range: HistoryRange = {},
  options: VerifyOptions = {},
): Promise<VerificationReport> {
  checkRange(range);
  await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  try {
    return await verifySnapshot(client, publicKeys, range, options);
  } finally {
    await client.query("ROLLBACK");
  }
}

async function verifySnapshot(
  client: pg.ClientBase,
  publicKeys: ReadonlyMap<string, KeyObject>,
  range: HistoryRange,
  options: VerifyOptions,
): Promise<VerificationReport> {
  const archives = await allArchives(client);
  // Archives come first: what remains is anchored by the newest one's checkpoint.
  const archiveProblem = await archiveRecordsProblem(client, archives, publicKeys);
  if (archiveProblem) return { intact: false, range: null, rows: 0, brokenLink: archiveProblem };
  const rolledBack = options.expectCheckpoint && (await checkpointProblem(client, options.expectCheckpoint));
  if (rolledBack) {
    return { intact: false, range: null, rows: 0, brokenLink: { ...rolledBack, cause: "expectCheckpoint" } };
  }
  const span = await resolveSpan(client, archives.at(-1), range);
  return verifyResolvedSpan(client, publicKeys, span, options);
}

/**
 * Verifies a span already resolved: the signatures of its anchor and of the checkpoints inside it, then its rows
 * and links. The sealer runs it over what it is about to seal (audit/sealCheckpoint.ts).
 */
export async function verifyResolvedSpan(
  client: pg.ClientBase,
  publicKeys: ReadonlyMap<string, KeyObject>,
  span: HistorySpan,
  options: VerifyOptions = {},
): Promise<VerificationReport> {
  const verifiedRange: VerifiedRange = {
    afterCheckpoint: span.anchor.checkpoint,
    afterPosition: span.anchor.sealed?.upToPosition ?? null,
    rowsBefore: span.anchor.rowCount,
    archivedRows: span.archivedRows,
    throughPosition: span.through?.position ?? null,
  };
  const broken = (rows: number, brokenLink: BrokenLink): VerificationReport => ({
    intact: false,
    range: verifiedRange,
    rows,
    brokenLink,
  });

  const checkpoints = await checkpointsAfter(client, span.anchor.checkpoint, span.through);
  const signers = new KeySuccession();
  let previousSequence = span.anchor.checkpoint;
  for (const checkpoint of span.anchor.sealed ? [span.anchor.sealed, ...checkpoints] : checkpoints) {
    const problem =
      signatureProblem(checkpoint, publicKeys) ??
      signers.problemWith(checkpoint) ??
      (checkpoint === span.anchor.sealed ? null : gapProblem(previousSequence, checkpoint.sequence));
    if (problem) return broken(0, { checkpoint: checkpoint.sequence, problem });
    previousSequence = checkpoint.sequence;
  }

  const lastSealed = checkpoints.at(-1);
  const progress = options.progress?.(lastSealed ? lastSealed.rowCount - span.anchor.rowCount : undefined);
  const pass = await verifySpan(client, span, checkpoints, progress);
  if ("problem" in pass) return broken(pass.rows, pass.problem);
  if (span.through === null) {
    const [cut] = await aggregatesWithMissingHead(client, 1);
    if (cut) {
      return broken(pass.rows, {
        aggregate: `${cut.aggregateType} ${cut.aggregateId}`,
        problem: headProblem(cut),
      });
    }
  }
  return {
    intact: true,
    range: verifiedRange,
    rows: pass.rows,
    checkpoints: checkpoints.length,
    chainedAggregates: pass.links.chains,
    linksToEarlierRows: pass.links.toEarlierRows,
    linksToArchivedRows: pass.links.toArchivedRows,
    upToPosition: pass.lastPosition,
    lastCheckpoint: markOf(checkpoints.at(-1) ?? span.anchor.sealed),
  };
}

/**
 * What an aggregate's head (`aggregate_versions`, which the write path chains the next event from) says against
 * its last event. Every row was verified against its own hash before, so a hash that differs is the head's.
 */
function headProblem({ version, storedVersion, hashMatches }: HeadMismatch): string {
  if (storedVersion === null)
    return `its head records version ${version} but no event of its chain is left: the chain was removed`;
  if (storedVersion < version)
    return `its chain ends at version ${storedVersion} but its head records version ${version}: the tail was removed (or the head changed)`;
  if (storedVersion > version)
    return `its chain goes on to version ${storedVersion} but its head records version ${version}: an event was added past the head (or the head changed)`;
  return hashMatches
    ? `its head does not match its last event, version ${version}`
    : `its head records version ${version} with another hash than that event's: the head was changed`;
}

/** Whether the history still holds a checkpoint seen before, unchanged (checkpoints are append-only). */
export async function checkpointProblem(
  client: pg.ClientBase,
  remembered: RememberedCheckpoint,
): Promise<BrokenLink | null> {
  const stored = await checkpointBySequence(client, remembered.sequence);
  if (stored === null) {
    const newest = await latestCheckpoint(client);
    // Past the newest, it may be one that was never sealed here (a typo, another history's): say both.
    if (newest === null || remembered.sequence > newest.sequence) {
      return {
        checkpoint: remembered.sequence,
        problem: `this checkpoint is gone (the history's newest is ${newest?.sequence ?? "none"}): checkpoints were removed, unless it was never sealed here`,
      };
    }
    return {
      checkpoint: remembered.sequence,
      problem: "this checkpoint, seen before, is gone: checkpoints were removed",
    };
  }
  if (!stored.chainHash.equals(remembered.chainHash)) {
    return {
      checkpoint: remembered.sequence,
      problem: "this checkpoint is not the one seen before (another chain hash): it was replaced",
    };
  }
  return null;
}

function markOf(checkpoint: Checkpoint | null | undefined): CheckpointMark | null {
  if (!checkpoint) return null;
  return {
    sequence: checkpoint.sequence,
    chainHash: checkpoint.chainHash.toString("hex"),
    rowCount: checkpoint.rowCount,
    sealedAt: checkpoint.sealedAtStored,
  };
}

interface LinkCounts {
  chains: number;
  toEarlierRows: number;
  toArchivedRows: number;
}

/**
 * One pass in (tx_id, position) order from the anchor: row hashes, the running hash at each checkpoint, and
 * each chained row's link to its previous version. A broken order (a checkpoint that does not match) is
 * reported before a broken chain or a misfiled row, as the more telling: a removed or forged row breaks both.
 */
async function verifySpan(
  client: pg.ClientBase,
  span: HistorySpan,
  checkpoints: Checkpoint[],
  progress: Pick<Progress, "advance"> | undefined,
): Promise<
  { rows: number; lastPosition: string | null; links: LinkCounts } | { rows: number; problem: BrokenLink }
> {
  let running: Buffer = span.anchor.chainHash;
  let sealedRows = span.anchor.rowCount;
  let rows = 0;
  let next = 0;
  let cursor: HistoryKey = span.anchor.cursor;
  let lastPosition: string | null = null;
  // The first broken chain link or misfiled row, reported once every checkpoint is found to hold, and how many
  // rows of the span came before it.
  let deferredProblem: BrokenLink | null = null;
  let rowsBeforeDeferred = 0;
  // The rows the last checkpoint found to hold vouches for (none before the first), and where they end.
  let vouched: { rows: number; sequence: number; position: string | null } = {
    rows: 0,
    sequence: span.anchor.checkpoint,
    position: span.anchor.sealed?.upToPosition ?? null,
  };
  const links: LinkCounts = { chains: 0, toEarlierRows: 0, toArchivedRows: 0 };
  // A checkpoint that does not match its rows says that one of the rows it added to the one before was removed,
  // added or moved, not which: the broken link reported is the span between the two, and the first broken chain
  // link in it, if one is, as the likeliest place (a removed event breaks the link of its aggregate's next).
  const checkAt = (checkpoint: Checkpoint): { rows: number; problem: BrokenLink } | null => {
    if (checkpoint.rowCount === sealedRows && checkpoint.chainHash.equals(running)) {
      vouched = { rows, sequence: checkpoint.sequence, position: checkpoint.upToPosition };
      return null;
    }
    const after =
      vouched.position === null
        ? "from the start of the history"
        : `after checkpoint ${vouched.sequence} (position ${vouched.position})`;
    const suspect = deferredProblem !== null && rowsBeforeDeferred >= vouched.rows ? deferredProblem : null;
    return {
      rows: vouched.rows,
      problem: {
        ...(suspect && {
          position: suspect.position,
          eventId: suspect.eventId,
          aggregate: suspect.aggregate,
        }),
        checkpoint: checkpoint.sequence,
        problem:
          `the rows ${after} through position ${checkpoint.upToPosition} do not match checkpoint ${checkpoint.sequence} ` +
          `(${rows - vouched.rows} rows found there, ${checkpoint.rowCount - span.anchor.rowCount - vouched.rows} ` +
          "sealed): one of them was removed, added or moved" +
          (suspect ? `; the first broken link among them: ${suspect.problem}` : ""),
      },
    };
  };

  // Rows are reported a batch at a time, and where verification stops in one: its rows before the stop too.
  let reported = 0;
  const report = () => {
    progress?.advance(rows - reported);
    reported = rows;
  };

  const recent = new RecentHeads(RECENT_AGGREGATES);
  const attributedFrom = await firstAttributedRow(client);
  for (;;) {
    const batch = await historyBatch(client, cursor, BATCH, { through: span.through });
    const looked = await lookUpUnsettledLinks(client, batch, recent);
    const previousOf = async (row: HistoryRow): Promise<PreviousVersion | null> =>
      row.aggregateVersion === 1
        ? null
        : (recent.previousOf(row) ??
          looked.get(row.position) ??
          ((await previousVersions(client, [row]))[0] as PreviousVersion));
    for (const row of batch) {
      // Checkpoints whose cursor lies before this row must already hold.
      while (next < checkpoints.length && isAfter(row, checkpoints[next] as Checkpoint)) {
        const broken = checkAt(checkpoints[next] as Checkpoint);
        if (broken) {
          report();
          return broken;
        }
        next++;
      }
      const problem = rowProblem(row);
      if (problem) {
        report();
        return { rows, problem };
      }
      if (deferredProblem === null) {
        deferredProblem = attributionProblem(row, attributedFrom);
        if (row.aggregateVersion !== null && deferredProblem === null) {
          deferredProblem = isChainVersion(row.aggregateVersion)
            ? linkProblem(row, await previousOf(row), span.anchor.cursor, links)
            : unnumberedProblem(row);
          recent.add(row);
        }
        rowsBeforeDeferred = rows;
      }
      running = extendChain(running, row.hash);
      rows++;
      sealedRows++;
      lastPosition = row.position;
    }
    report();
    const last = batch.at(-1);
    if (last) cursor = { txId: last.txId, position: last.position };
    if (batch.length < BATCH) break;
  }
  for (; next < checkpoints.length; next++) {
    const broken = checkAt(checkpoints[next] as Checkpoint);
    if (broken) return broken;
  }
  if (deferredProblem) return { rows: rowsBeforeDeferred, problem: deferredProblem };
  return { rows, lastPosition, links };
}

/**
 * Whether a version is one the write path numbers a chain with: 1, 2, … as a JavaScript number holds it exactly.
 * Any other was written by hand: its previous version (one less) may not even be a `bigint`, whose lookup the
 * database would refuse, so it is reported before any is looked up.
 */
function isChainVersion(version: number): boolean {
  return Number.isSafeInteger(version) && version >= 1;
}

function unnumberedProblem(row: HistoryRow): BrokenLink {
  return {
    position: row.position,
    eventId: row.eventId,
    aggregate: `${row.aggregateType} ${row.aggregateId}`,
    problem: `its version (${row.aggregateVersion}) is no version of a chain (a whole number from 1 to ${Number.MAX_SAFE_INTEGER}): the row was changed`,
  };
}

/**
 * A chained row links to its aggregate's previous version: the row itself when the outbox holds it (in the
 * span, whose rows are all verified, or before it, where only its stored hash is compared), or the head an
 * archive recorded when it was archived. Version 1 (given no previous) links to nothing.
 */
function linkProblem(
  row: HistoryRow,
  previous: PreviousVersion | null,
  anchor: HistoryKey,
  links: LinkCounts,
): BrokenLink | null {
  const version = row.aggregateVersion as number;
  const broken = (problem: string): BrokenLink => ({
    position: row.position,
    eventId: row.eventId,
    aggregate: `${row.aggregateType} ${row.aggregateId}`,
    problem,
  });
  if (previous === null) {
    links.chains++;
    return row.previousHash === null ? null : broken("it is version 1 but links to an earlier event");
  }
  if (previous.row) {
    if (compareKeys(previous.row, row) >= 0)
      return broken(`version ${version - 1} comes after it in the history: rows were moved`);
    if (!row.previousHash?.equals(previous.row.hash))
      return broken("it does not link to the hash of the event before it");
    if (compareKeys(previous.row, anchor) <= 0) {
      links.chains++;
      links.toEarlierRows++;
    }
    return null;
  }
  if (previous.archivedHash) {
    if (!row.previousHash?.equals(previous.archivedHash))
      return broken("it does not link to the hash its archive recorded for the event before it");
    links.chains++;
    links.toArchivedRows++;
    return null;
  }
  return broken(
    `version ${version - 1} before it is missing, and no archive holds it: an event of the chain was removed`,
  );
}

/**
 * The last verified row of the aggregates seen most recently, so that most links are checked without a query;
 * bounded, so that memory stays constant however many aggregates the history has.
 */
class RecentHeads {
  readonly #heads = new Map<string, { version: number; row: HistoryKey & { hash: Buffer } }>();
  constructor(readonly limit: number) {}

  /** The previous version of the row, when it is the last one seen of its aggregate. */
  previousOf(row: HistoryRow): PreviousVersion | undefined {
    const head = this.#heads.get(aggregateOf(row));
    return head && head.version === (row.aggregateVersion as number) - 1
      ? { row: head.row, archivedHash: null }
      : undefined;
  }

  /** Whether the row's previous version will be known by the time the row is checked, in a batch read in order. */
  settles(row: HistoryRow, earlierInBatch: ReadonlyMap<string, number>): boolean {
    const key = aggregateOf(row);
    const version = earlierInBatch.get(key) ?? this.#heads.get(key)?.version;
    return version === (row.aggregateVersion as number) - 1;
  }

  add(row: HistoryRow): void {
    const key = aggregateOf(row);
    this.#heads.delete(key);
    this.#heads.set(key, {
      version: row.aggregateVersion as number,
      row: { txId: row.txId, position: row.position, hash: row.hash },
    });
    if (this.#heads.size > this.limit) this.#heads.delete(this.#heads.keys().next().value as string);
  }
}

/** The previous versions the recent heads will not know, looked up in one statement, by row position. */
async function lookUpUnsettledLinks(
  client: pg.ClientBase,
  batch: readonly HistoryRow[],
  recent: RecentHeads,
): Promise<Map<string, PreviousVersion>> {
  const earlierInBatch = new Map<string, number>();
  const unsettled: HistoryRow[] = [];
  for (const row of batch) {
    if (row.aggregateVersion === null) continue;
    const linked = row.aggregateVersion > 1 && isChainVersion(row.aggregateVersion);
    if (linked && !recent.settles(row, earlierInBatch)) unsettled.push(row);
    earlierInBatch.set(aggregateOf(row), row.aggregateVersion);
  }
  if (unsettled.length === 0) return new Map();
  const found = await previousVersions(client, unsettled);
  return new Map(unsettled.map((row, index) => [row.position, found[index] as PreviousVersion]));
}

function aggregateOf(row: HistoryRow): string {
  return `${row.aggregateType}\u0000${row.aggregateId}`;
}

/**
 * Checkpoints are numbered one after another from 1 (the sealer signs the previous one's number plus one) and
 * never deleted: a signed number past the next one proves the ones between were removed, the last one
 * excepted, which only a checkpoint written down before (`expectCheckpoint`) can prove gone.
 */
function gapProblem(previousSequence: number, sequence: number): string | null {
  if (sequence === previousSequence + 1) return null;
  const missing =
    sequence === previousSequence + 2
      ? `checkpoint ${previousSequence + 1} is`
      : `checkpoints ${previousSequence + 1} to ${sequence - 1} are`;
  const place = previousSequence === 0 ? "is the first one held" : `follows checkpoint ${previousSequence}`;
  return `${missing} missing: checkpoint ${sequence}, signed with its number, ${place}; checkpoints were removed`;
}

function signatureProblem(checkpoint: Checkpoint, publicKeys: ReadonlyMap<string, KeyObject>): string | null {
  const key = publicKeys.get(checkpoint.keyId);
  if (!key) return `signed by unknown key ${checkpoint.keyId}`;
  if (!checkpointSignatureIsValid(checkpoint, key)) return "its signature does not match its content";
  // The signature covers sealed_at to the millisecond, and the sealer stores a Date's: a finer time was changed.
  if (checkpoint.sealedAtStored !== checkpoint.sealedAt.toISOString()) {
    return `its sealed_at (${checkpoint.sealedAtStored}) is finer than the millisecond its signature covers: it was changed`;
  }
  return null;
}

/** A row whose stored content does not give its stored hash. */
export function rowProblem(row: HistoryRow): BrokenLink | null {
  if (row.hash.length === 0) {
    return {
      position: row.position,
      eventId: row.eventId,
      problem: "the row has no hash (written before the chain existed)",
    };
  }
  if (!isStampedTime(row.createdAt)) {
    return {
      position: row.position,
      eventId: row.eventId,
      problem:
        "its created_at is no time the write path stamps (infinite, or past what a Date holds): the row was changed",
    };
  }
  if (row.createdAtFinerThanHashed === true || !eventHash(row.previousHash, row).equals(row.hash)) {
    return {
      position: row.position,
      eventId: row.eventId,
      problem: "its content does not match its hash: the row was changed",
    };
  }
  return null;
}

/**
 * When migration 0007, which added `patient_id`, was written (its journal's time). Every row created since was
 * written by code that files it under the patient its envelope names; a row's time is hashed, so no administrator
 * can move a row before it without breaking the row's hash (and, sealed, its checkpoint). The one assumption: no
 * database ran code older than that migration after it was written (the code was replaced within the hour).
 */
export const ATTRIBUTION_BEGAN_AT = Date.parse("2026-11-26T16:52:32.887Z");

/**
 * A row filed under another patient than the one its envelope names. No hash covers `patient_id` (it is derived
 * from the envelope, which the hash covers), but the auditors' per-patient history, "who saw this patient" among
 * it, is read by it: changed, it would move an event out of one patient's history, or into another's, unseen.
 * A row filed under none is accepted only as one written before the column existed: created before
 * ATTRIBUTION_BEGAN_AT, and before the first row filed under a patient (`attributedFrom`).
 */
export function attributionProblem(row: AttributedRow, attributedFrom: HistoryKey | null): BrokenLink | null {
  if (row.patientId === row.namedPatientId) return null;
  const legacy =
    row.patientId === null &&
    row.createdAt.getTime() < ATTRIBUTION_BEGAN_AT &&
    (attributedFrom === null || compareKeys(row, attributedFrom) < 0);
  if (legacy) return null;
  return { position: row.position, eventId: row.eventId, problem: misattribution(row) };
}

function misattribution(row: AttributedRow): string {
  if (row.patientId === null)
    return "it is filed under no patient, though its envelope names one and it was written after rows began to be filed under theirs: the row was taken out of that patient's history";
  if (row.namedPatientId === null)
    return "it is filed under a patient though its envelope names none: the row was put into that patient's history";
  return "it is filed under another patient than the one its envelope names: the row was moved into another patient's history";
}

function isAfter(row: HistoryRow, checkpoint: Checkpoint): boolean {
  return compareKeys(row, { txId: checkpoint.upToTxId, position: checkpoint.upToPosition }) > 0;
}

// Which part of the history a verification covers. A span always starts right after a signed anchor (the start
// of the history, the checkpoint the last archive ended at, or the last checkpoint sealed before the range
// asked for), so that the running hash of every checkpoint inside it is checked from a known value. It ends at
// a row, at a checkpoint's cursor, or at the end of the history.
import type pg from "pg";
import { z } from "zod";
import { instantWithOffset, OFFSET_WITHIN_YEARS, positiveIntegerUpTo } from "../events/fields.ts";
import { type Instant, instantOf, instantText } from "../events/instant.ts";
import type { ArchiveRecord } from "./archive.ts";
import { type Checkpoint, GENESIS } from "./checkpoint.ts";
import {
  checkpointBySequence,
  firstCheckpointSealedFrom,
  lastCheckpointBefore,
  lastCheckpointSealedBy,
} from "./sql/checkpoints.ts";
import { type HistoryKey, historyKeyOf } from "./sql/historyRows.ts";

/** What an auditor asks for: by outbox position, or by time through the checkpoints' sealing times. */
export interface HistoryRange {
  /** Start with the event at this position (verification starts at the last checkpoint sealed before it). */
  from?: string;
  /** End with the event at this position, included. */
  to?: string;
  /** Start after the last checkpoint sealed at or before this time: every event committed since is in. */
  since?: Instant;
  /** End at the first checkpoint sealed at or after this time (or the end of the history, if none is yet). */
  until?: Instant;
}

const MAX_POSITION = 2n ** 63n - 1n;
const POSITION = /^[1-9][0-9]{0,18}$/;
/** What is checked, published as one pattern: 1 to 9223372036854775807, the largest `bigint`. */
const POSITION_UP_TO_MAX = `^(?:${positiveIntegerUpTo(MAX_POSITION)})$`;
const position = z
  .string()
  .regex(POSITION, "must be an outbox position (a positive integer)")
  .refine(
    (value) => !POSITION.test(value) || BigInt(value) <= MAX_POSITION,
    `must be an outbox position (a 64-bit integer: at most ${MAX_POSITION})`,
  )
  .meta({ pattern: POSITION_UP_TO_MAX });
const time = instantWithOffset;

/** A range as the API's query and the CLI's options give it: all optional; none means the whole history. */
export const historyRangeInput = z.strictObject({
  // Each with one description: a later .describe() replaces a .meta() one, which was lost from the document.
  from: position
    .meta({
      "x-from-response": "GET /audit/events#/events/*/position",
      "x-excludes": "since",
    })
    .optional()
    .describe(
      "start with the event at this position, one the history holds (an event's `position` in GET /audit/events); verification starts at the last checkpoint sealed before it",
    ),
  to: position
    .meta({
      "x-from-response": "GET /audit/events#/events/*/position",
      "x-excludes": "until",
      "x-not-below": "from",
    })
    .optional()
    .describe("end with the event at this position (included), one the history holds, not before from"),
  since: time
    .meta({ "x-excludes": "from", "x-not-after": "now" })
    .optional()
    .describe(
      `start after the last checkpoint sealed at or before this time, not in the future: every event committed since is in. ${OFFSET_WITHIN_YEARS}`,
    ),
  until: time
    .meta({ "x-excludes": "to", "x-later-than": "since" })
    .optional()
    .describe(
      `end at the first checkpoint sealed at or after this time, later than since (the end of the history if none is yet). ${OFFSET_WITHIN_YEARS}`,
    ),
});

/**
 * A checkpoint an earlier verification reported, as an auditor writes it down: `<sequence>:<chain hash>` (the
 * report's lastCheckpoint; the hash in either case, as hexadecimal is). Checked by the verification: the history
 * must still hold it, unchanged.
 */
export const expectedCheckpointInput = z
  .string()
  .regex(
    /^[1-9][0-9]{0,14}:[0-9a-fA-F]{64}$/,
    "must be <sequence>:<chain hash in hexadecimal>, as a verification reported them",
  )
  .transform((value) => {
    const [sequence, chainHash] = value.split(":") as [string, string];
    return { sequence: Number(sequence), chainHash: Buffer.from(chainHash, "hex") };
  })
  .meta({
    description:
      "A checkpoint an earlier verification reported (lastCheckpoint), as <sequence>:<chainHash>: the history must still hold it, unchanged, or it was rolled back.",
    example: "12:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
  });

export function historyRange(input: z.infer<typeof historyRangeInput>): HistoryRange {
  const range: HistoryRange = {};
  if (input.from !== undefined) range.from = input.from;
  if (input.to !== undefined) range.to = input.to;
  if (input.since !== undefined) range.since = input.since;
  if (input.until !== undefined) range.until = input.until;
  return range;
}

/** A range that names no part of the history: which parameter, and why. */
export class RangeProblem extends Error {
  constructor(
    readonly parameter: keyof HistoryRange,
    readonly reason: string,
  ) {
    super(`${parameter}: ${reason}`);
    this.name = "RangeProblem";
  }
}

/** Where a span starts: right after this checkpoint, whose signed running hash and row count are taken as given. */
export interface Anchor {
  /** 0 for the start of the history. */
  checkpoint: number;
  cursor: HistoryKey;
  rowCount: number;
  chainHash: Buffer;
  /** The signed checkpoint itself; null at the start of the history. */
  sealed: Checkpoint | null;
}

export interface HistorySpan {
  anchor: Anchor;
  /** The last row of the span in history order; null: the end of the history. */
  through: HistoryKey | null;
  /** Rows moved out to archive files: all those the newest archive's checkpoint sealed. */
  archivedRows: number;
}

export const START_OF_HISTORY: Anchor = {
  checkpoint: 0,
  cursor: { txId: GENESIS.upToTxId, position: GENESIS.upToPosition },
  rowCount: GENESIS.rowCount,
  chainHash: GENESIS.chainHash,
  sealed: null,
};

export function anchorAt(checkpoint: Checkpoint): Anchor {
  return {
    checkpoint: checkpoint.sequence,
    cursor: { txId: checkpoint.upToTxId, position: checkpoint.upToPosition },
    rowCount: checkpoint.rowCount,
    chainHash: checkpoint.chainHash,
    sealed: checkpoint,
  };
}

/**
 * Refuses ranges that contradict themselves, or that cannot hold an event yet, before anything is read. A
 * since in the future would verify nothing and call it intact; an until in the future is the history up to now.
 */
export function checkRange(range: HistoryRange, now = new Date()): void {
  if (range.since && range.since.epochNanoseconds > instantOf(now).epochNanoseconds)
    throw new RangeProblem(
      "since",
      `${instantText(range.since)} is in the future: nothing has been committed since`,
    );
  if (range.from !== undefined && range.since !== undefined)
    throw new RangeProblem("since", "give either from or since, not both");
  if (range.to !== undefined && range.until !== undefined)
    throw new RangeProblem("until", "give either to or until, not both");
  if (range.since && range.until && range.since.epochNanoseconds >= range.until.epochNanoseconds)
    throw new RangeProblem("until", "must be later than since");
}

/**
 * The span a range asks for. No span starts before the newest archive's checkpoint: what lies before it is in
 * the archive files. Throws a RangeProblem for a position the outbox does not hold.
 */
export async function resolveSpan(
  client: pg.ClientBase,
  newestArchive: ArchiveRecord | undefined,
  range: HistoryRange,
): Promise<HistorySpan> {
  checkRange(range);
  let floor = START_OF_HISTORY;
  if (newestArchive) {
    const checkpoint = await checkpointBySequence(client, newestArchive.checkpointSequence);
    if (!checkpoint)
      throw new Error(`archive ${newestArchive.sequence} ends at a checkpoint that is missing`);
    floor = anchorAt(checkpoint);
  }

  const start = range.from === undefined ? null : await rowAt(client, "from", range.from);
  let anchor = floor;
  if (start) {
    const before = await lastCheckpointBefore(client, start, floor.checkpoint);
    if (before) anchor = anchorAt(before);
  } else if (range.since) {
    const before = await lastCheckpointSealedBy(client, range.since, floor.checkpoint);
    if (before) anchor = anchorAt(before);
  }

  let through: HistoryKey | null = null;
  if (range.to !== undefined) {
    through = await rowAt(client, "to", range.to);
  } else if (range.until) {
    const after = await firstCheckpointSealedFrom(client, range.until);
    if (after) through = { txId: after.upToTxId, position: after.upToPosition };
  }
  const end = range.to !== undefined ? "to" : "until";
  if (through && start && compareKeys(through, start) < 0)
    throw new RangeProblem(end, "the range ends before the event at from");
  if (through && compareKeys(through, anchor.cursor) <= 0) {
    throw new RangeProblem(
      end,
      anchor === floor && newestArchive
        ? `the range ends among archived events (up to checkpoint ${floor.checkpoint}, position ${floor.cursor.position}), which are verified from their archive files: npm run audit:verify-archive`
        : `the range ends before it starts (after checkpoint ${anchor.checkpoint})`,
    );
  }
  return { anchor, through, archivedRows: floor.rowCount };
}

async function rowAt(client: pg.ClientBase, parameter: "from" | "to", position: string): Promise<HistoryKey> {
  const key = await historyKeyOf(client, position);
  if (!key) {
    throw new RangeProblem(
      parameter,
      `the outbox holds no event at position ${position} (archived events are verified from their archive files)`,
    );
  }
  return key;
}

export function compareKeys(a: HistoryKey, b: HistoryKey): number {
  const tx = BigInt(a.txId) - BigInt(b.txId);
  if (tx !== 0n) return tx < 0n ? -1 : 1;
  const position = BigInt(a.position) - BigInt(b.position);
  return position === 0n ? 0 : position < 0n ? -1 : 1;
}

// Verifies the whole history: every row against its own hash, every aggregate's chain link by link, and the
// signed checkpoints against the running hash of the rows they cover. Reports the first broken link.
import type { KeyObject } from "node:crypto";
import type pg from "pg";
import { eventHash } from "../db/outbox/eventHash.ts";
import { type Checkpoint, checkpointSignatureIsValid, extendChain, GENESIS } from "./checkpoint.ts";
import { allCheckpoints } from "./sql/checkpoints.ts";
import { aggregatesWithMissingHead, chainBatch, type HistoryRow, historyBatch } from "./sql/historyRows.ts";

export interface BrokenLink {
  /** The outbox position of the first row found wrong, when a row is to blame. */
  position?: string;
  eventId?: string;
  checkpoint?: number;
  aggregate?: string;
  problem: string;
}

export type VerificationReport =
  | {
      intact: true;
      rows: number;
      checkpoints: number;
      chainedAggregates: number;
      upToPosition: string | null;
    }
  | { intact: false; rows: number; brokenLink: BrokenLink };

const BATCH = 5_000;

export async function verifyHistory(
  client: pg.ClientBase,
  publicKeys: ReadonlyMap<string, KeyObject>,
): Promise<VerificationReport> {
  const checkpoints = await allCheckpoints(client);
  const history = await verifyHistoryOrder(client, checkpoints, publicKeys);
  if ("problem" in history) return { intact: false, rows: history.rows, brokenLink: history.problem };
  const chains = await verifyChains(client);
  if ("problem" in chains) return { intact: false, rows: history.rows, brokenLink: chains.problem };
  return {
    intact: true,
    rows: history.rows,
    checkpoints: checkpoints.length,
    chainedAggregates: chains.aggregates,
    upToPosition: history.lastPosition,
  };
}

/** Pass 1, in (tx_id, position) order: row hashes, and the running hash at each checkpoint. */
async function verifyHistoryOrder(
  client: pg.ClientBase,
  checkpoints: Checkpoint[],
  publicKeys: ReadonlyMap<string, KeyObject>,
): Promise<{ rows: number; lastPosition: string | null } | { rows: number; problem: BrokenLink }> {
  for (const checkpoint of checkpoints) {
    const key = publicKeys.get(checkpoint.keyId);
    if (!key)
      return {
        rows: 0,
        problem: { checkpoint: checkpoint.sequence, problem: `signed by unknown key ${checkpoint.keyId}` },
      };
    if (!checkpointSignatureIsValid(checkpoint, key)) {
      return {
        rows: 0,
        problem: { checkpoint: checkpoint.sequence, problem: "its signature does not match its content" },
      };
    }
  }

  let running: Buffer = GENESIS.chainHash;
  let rows = 0;
  let next = 0;
  let cursor = { txId: "0", position: "0" };
  let lastPosition: string | null = null;
  const checkAt = (checkpoint: Checkpoint): BrokenLink | null =>
    checkpoint.rowCount === rows && checkpoint.chainHash.equals(running)
      ? null
      : {
          checkpoint: checkpoint.sequence,
          problem: `the rows up to checkpoint ${checkpoint.sequence} do not match it (${rows} rows found, ${checkpoint.rowCount} sealed): a row was removed, added or moved`,
        };

  for (;;) {
    const batch = await historyBatch(client, cursor, BATCH);
    for (const row of batch) {
      // Checkpoints whose cursor lies before this row must already hold.
      while (next < checkpoints.length && isAfter(row, checkpoints[next] as Checkpoint)) {
        const broken = checkAt(checkpoints[next] as Checkpoint);
        if (broken) return { rows, problem: { ...broken, position: row.position, eventId: row.eventId } };
        next++;
      }
      const problem = rowProblem(row);
      if (problem) return { rows, problem };
      running = extendChain(running, row.hash);
      rows++;
      lastPosition = row.position;
    }
    const last = batch.at(-1);
    if (last) cursor = { txId: last.txId, position: last.position };
    if (batch.length < BATCH) break;
  }
  for (; next < checkpoints.length; next++) {
    const broken = checkAt(checkpoints[next] as Checkpoint);
    if (broken) return { rows, problem: broken };
  }
  return { rows, lastPosition };
}

/** Pass 2, aggregate by aggregate: versions 1, 2, 3, … each linked to the hash before it, up to the recorded head. */
async function verifyChains(
  client: pg.ClientBase,
): Promise<{ aggregates: number } | { problem: BrokenLink }> {
  let previous: HistoryRow | null = null;
  let aggregates = 0;
  let cursor = { aggregateType: "", aggregateId: "", aggregateVersion: 0 };
  for (;;) {
    const batch = await chainBatch(client, cursor, BATCH);
    for (const row of batch) {
      const sameAggregate =
        previous !== null &&
        previous.aggregateType === row.aggregateType &&
        previous.aggregateId === row.aggregateId;
      if (!sameAggregate) aggregates++;
      const expectedVersion = sameAggregate ? (previous?.aggregateVersion ?? 0) + 1 : 1;
      const expectedPrevious = sameAggregate ? (previous?.hash ?? null) : null;
      const aggregate = `${row.aggregateType} ${row.aggregateId}`;
      if (row.aggregateVersion !== expectedVersion) {
        return {
          problem: {
            position: row.position,
            eventId: row.eventId,
            aggregate,
            problem: `version ${row.aggregateVersion} follows version ${expectedVersion - 1}: an event of the chain is missing`,
          },
        };
      }
      const linked =
        expectedPrevious === null
          ? row.previousHash === null
          : (row.previousHash?.equals(expectedPrevious) ?? false);
      if (!linked) {
        return {
          problem: {
            position: row.position,
            eventId: row.eventId,
            aggregate,
            problem: "it does not link to the hash of the event before it",
          },
        };
      }
      previous = row;
    }
    const last = batch.at(-1);
    if (last) {
      cursor = {
        aggregateType: last.aggregateType,
        aggregateId: last.aggregateId,
        aggregateVersion: last.aggregateVersion ?? 0,
      };
    }
    if (batch.length < BATCH) break;
  }
  const [cut] = await aggregatesWithMissingHead(client, 1);
  if (cut) {
    return {
      problem: {
        aggregate: `${cut.aggregateType} ${cut.aggregateId}`,
        problem: `its chain ends at version ${cut.storedVersion ?? "none"} but version ${cut.version} was written: the tail was removed`,
      },
    };
  }
  return { aggregates };
}

function rowProblem(row: HistoryRow): BrokenLink | null {
  if (row.hash.length === 0) {
    return {
      position: row.position,
      eventId: row.eventId,
      problem: "the row has no hash (written before the chain existed)",
    };
  }
  if (!eventHash(row.previousHash, row).equals(row.hash)) {
    return {
      position: row.position,
      eventId: row.eventId,
      problem: "its content does not match its hash: the row was changed",
    };
  }
  return null;
}

function isAfter(row: HistoryRow, checkpoint: Checkpoint): boolean {
  const rowTx = BigInt(row.txId);
  const checkpointTx = BigInt(checkpoint.upToTxId);
  return (
    rowTx > checkpointTx || (rowTx === checkpointTx && BigInt(row.position) > BigInt(checkpoint.upToPosition))
  );
}

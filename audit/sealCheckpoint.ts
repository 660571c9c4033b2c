// Seals the next checkpoint: extends the running hash over the rows committed since the last one (only rows
// no open transaction can still precede) and stores it signed. One sealer at a time (an advisory lock).
//
// A signature vouches for what it signs, so the sealer signs only a history it has checked: the last checkpoint's
// own signature, and every row it is about to seal against its hash and its aggregate's chain (the checks of
// `npm run audit:verify`, over that span). A sealer that remembers a checkpoint (the platform's, from one seal to
// the next) also refuses when that checkpoint is gone or changed: checkpoints rolled back and rows rewritten
// behind them would otherwise be signed again, as if nothing had happened.
import type pg from "pg";
import { describeBrokenLink } from "./brokenLink.ts";
import { type Checkpoint, extendChain, GENESIS, signCheckpoint } from "./checkpoint.ts";
import { anchorAt, START_OF_HISTORY } from "./historySpan.ts";
import type { SigningKey } from "./signingKey.ts";
import { firstSignedBy, latestCheckpoint } from "./sql/checkpoints.ts";
import { historyBatch } from "./sql/historyRows.ts";
import { checkpointProblem, type RememberedCheckpoint, verifyResolvedSpan } from "./verifyHistory.ts";

const BATCH = 10_000;

/** The history is not one the sealer may sign: why, in words an operator acts on. Nothing was sealed. */
export class SealingRefused extends Error {
  constructor(reason: string) {
    super(`no checkpoint sealed: ${reason}; run npm run audit:verify`);
    this.name = "SealingRefused";
  }
}

/** Returns the new checkpoint, or null when nothing was committed since the last one. Throws SealingRefused. */
export async function sealCheckpoint(
  client: pg.ClientBase,
  key: SigningKey,
  options: {
    /** The latest checkpoint this sealer saw: the history must still hold it, unchanged. */
    lastSeen?: RememberedCheckpoint | null;
  } = {},
): Promise<Checkpoint | null> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('outbox-checkpoint'))");
    const previous = await latestCheckpoint(client);
    const rolledBack = options.lastSeen && (await checkpointProblem(client, options.lastSeen));
    if (rolledBack) throw new SealingRefused(describeBrokenLink(rolledBack));
    // Taking over from another key: a key that was replaced signs nothing after its successor.
    if (previous && previous.keyId !== key.keyId) {
      const signedBefore = await firstSignedBy(client, key.keyId);
      if (signedBefore !== null) {
        throw new SealingRefused(
          `this key (${key.keyId}) signed checkpoint ${signedBefore} and was replaced since (checkpoint ${previous.sequence} is signed by ${previous.keyId}): a replaced key signs nothing after`,
        );
      }
    }
    let cursor = {
      txId: previous?.upToTxId ?? GENESIS.upToTxId,
      position: previous?.upToPosition ?? GENESIS.upToPosition,
    };
    let chainHash: Buffer = previous?.chainHash ?? GENESIS.chainHash;
    let rowCount = previous?.rowCount ?? GENESIS.rowCount;
    for (;;) {
      const rows = await historyBatch(client, cursor, BATCH, { belowHorizon: true });
      for (const row of rows) chainHash = extendChain(chainHash, row.hash);
      rowCount += rows.length;
      const last = rows.at(-1);
      if (last) cursor = { txId: last.txId, position: last.position };
      if (rows.length < BATCH) break;
    }
    if (rowCount === (previous?.rowCount ?? 0)) {
      await client.query("COMMIT");
      return null;
    }
    // No transaction can still add a row before the cursor (it is below the horizon), so the rows checked here are
    // exactly the rows just hashed.
    const report = await verifyResolvedSpan(client, key.trusted, {
      anchor: previous ? anchorAt(previous) : START_OF_HISTORY,
      through: cursor,
      archivedRows: 0,
    });
    if (!report.intact)
      throw new SealingRefused(`the history to seal is broken: ${describeBrokenLink(report.brokenLink)}`);
    const sealedAt = new Date();
    const unsigned = {
      sequence: (previous?.sequence ?? 0) + 1,
      upToTxId: cursor.txId,
      upToPosition: cursor.position,
      rowCount,
      chainHash,
      keyId: key.keyId,
      sealedAt,
      sealedAtStored: sealedAt.toISOString(),
    };
    const checkpoint = { ...unsigned, signature: signCheckpoint(unsigned, key.privateKey) };
    await client.query(
      `INSERT INTO outbox_checkpoints (sequence, up_to_tx_id, up_to_position, row_count, chain_hash, key_id, signature, sealed_at)
       VALUES ($1, $2::xid8, $3, $4, $5, $6, $7, $8)`,
      [
        checkpoint.sequence,
        checkpoint.upToTxId,
        checkpoint.upToPosition,
        checkpoint.rowCount,
        checkpoint.chainHash,
        checkpoint.keyId,
        checkpoint.signature,
        checkpoint.sealedAt,
      ],
    );
    await client.query("COMMIT");
    return checkpoint;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

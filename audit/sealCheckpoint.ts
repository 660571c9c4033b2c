// Seals the next checkpoint: extends the running hash over the rows committed since the last one (only rows
// no open transaction can still precede) and stores it signed. One sealer at a time (an advisory lock).
import type pg from "pg";
import { type Checkpoint, extendChain, GENESIS, signCheckpoint } from "./checkpoint.ts";
import type { SigningKey } from "./signingKey.ts";
import { latestCheckpoint } from "./sql/checkpoints.ts";
import { historyBatch } from "./sql/historyRows.ts";

const BATCH = 10_000;

/** Returns the new checkpoint, or null when nothing was committed since the last one. */
export async function sealCheckpoint(client: pg.ClientBase, key: SigningKey): Promise<Checkpoint | null> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('outbox-checkpoint'))");
    const previous = await latestCheckpoint(client);
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
    const unsigned = {
      sequence: (previous?.sequence ?? 0) + 1,
      upToTxId: cursor.txId,
      upToPosition: cursor.position,
      rowCount,
      chainHash,
      keyId: key.keyId,
      sealedAt: new Date(),
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

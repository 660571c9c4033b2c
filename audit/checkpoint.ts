// Checkpoints of the history: a running hash over every outbox row's hash in (tx_id, position) order, up to a
// cursor, signed with Ed25519. What a checkpoint says, and how its signature is made and checked.
import { createHash, type KeyObject, sign, verify } from "node:crypto";

export interface Checkpoint {
  sequence: number;
  upToTxId: string;
  upToPosition: string;
  rowCount: number;
  chainHash: Buffer;
  keyId: string;
  signature: Buffer;
  /** When it was sealed, to the millisecond: what the signature covers (checkpointStatement). */
  sealedAt: Date;
  /**
   * sealed_at to the microsecond it holds, as answered (db/storedInstant.ts): sealedAt, read into a Date, would
   * cut a finer time.
   */
  sealedAtStored: string;
}

/** Where the running hash starts, before the first row. */
export const GENESIS = { upToTxId: "0", upToPosition: "0", rowCount: 0, chainHash: Buffer.alloc(32) };

/** The running hash after one more row: sha256(running ‖ row hash). */
export function extendChain(running: Buffer, rowHash: Buffer): Buffer {
  return createHash("sha256").update(running).update(rowHash).digest();
}

/** The exact bytes a checkpoint's signature covers. */
export function checkpointStatement(checkpoint: Omit<Checkpoint, "signature">): Buffer {
  return Buffer.from(
    JSON.stringify({
      sequence: checkpoint.sequence,
      upToTxId: checkpoint.upToTxId,
      upToPosition: checkpoint.upToPosition,
      rowCount: checkpoint.rowCount,
      chainHash: checkpoint.chainHash.toString("hex"),
      keyId: checkpoint.keyId,
      sealedAt: checkpoint.sealedAt.toISOString(),
    }),
  );
}

export function signCheckpoint(checkpoint: Omit<Checkpoint, "signature">, privateKey: KeyObject): Buffer {
  return sign(null, checkpointStatement(checkpoint), privateKey);
}

export function checkpointSignatureIsValid(checkpoint: Checkpoint, publicKey: KeyObject): boolean {
  return verify(null, checkpointStatement(checkpoint), publicKey, checkpoint.signature);
}

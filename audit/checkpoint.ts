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
   * cut a finer time. Empty when it holds none a Date can (see checkpointSignatureIsValid).
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

/**
 * Whether the key signed the checkpoint as stored. A sealer signs a Date's time: a sealed_at that no Date holds
 * (`infinity`, which the driver reads as a number, or a time past the year 275760, an invalid Date) was written
 * by hand, and no signature covers it.
 */
export function checkpointSignatureIsValid(checkpoint: Checkpoint, publicKey: KeyObject): boolean {
  if (!isStampedTime(checkpoint.sealedAt)) return false;
  return verify(null, checkpointStatement(checkpoint), publicKey, checkpoint.signature);
}

/**
 * Whether a stored time is one a Date holds, as the sealer and the write path stamp theirs. The driver reads
 * Postgres' `infinity` as a number and a time past the year 275760 as an invalid Date, neither of which a
 * signature or a row hash can cover.
 */
export function isStampedTime(time: unknown): time is Date {
  return time instanceof Date && !Number.isNaN(time.getTime());
}

/** The same signed checkpoint: its place, its count, its running hash and its signature. */
export function sameCheckpoint(a: Checkpoint | null, b: Checkpoint | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.sequence === b.sequence &&
    a.upToTxId === b.upToTxId &&
    a.upToPosition === b.upToPosition &&
    a.rowCount === b.rowCount &&
    a.chainHash.equals(b.chainHash) &&
    a.keyId === b.keyId &&
    a.signature.equals(b.signature)
  );
}

// Archives of the history: what an archive record says (signed like a checkpoint), the chain heads it leaves
// behind for the events that remain, and the format of the archive file's rows.
import assert from "node:assert/strict";
import { createHash, type Hash, type KeyObject, sign, verify } from "node:crypto";
import { createReadStream } from "node:fs";
import type { HistoryRow } from "./sql/historyRows.ts";

export interface ArchiveRecord {
  sequence: number;
  /** The checkpoint the archive ends at: its cursor is the cut, its running hash the anchor of what remains. */
  checkpointSequence: number;
  /** The checkpoint the previous archive ended at; 0 for the first archive, which starts the history. */
  afterCheckpointSequence: number;
  upToTxId: string;
  upToPosition: string;
  rowCount: number;
  headCount: number;
  headsHash: Buffer;
  /**
   * The hash over the digests it kept for consumers (DigestsHash), signed with the rest; null only for archives
   * recorded before it was (migration 0031), whose signatures cover no such field.
   */
  digestsHash: Buffer | null;
  fileName: string;
  fileSha256: Buffer;
  createdBefore: Date;
  keyId: string;
  signature: Buffer;
  archivedAt: Date;
}

/** An aggregate's last archived event, which the aggregate's next event links to. */
export interface ArchivedHead {
  position: string;
  aggregateType: string;
  aggregateId: string;
  version: number;
  hash: Buffer;
}

/**
 * The exact bytes an archive record's signature covers. The digests' hash is a member only when the record has
 * one, so the archives signed before it was (migration 0031) verify as they were signed; one signed with it no
 * longer verifies once it is taken away.
 */
export function archiveStatement(record: Omit<ArchiveRecord, "signature">): Buffer {
  return Buffer.from(
    JSON.stringify({
      sequence: record.sequence,
      checkpointSequence: record.checkpointSequence,
      afterCheckpointSequence: record.afterCheckpointSequence,
      upToTxId: record.upToTxId,
      upToPosition: record.upToPosition,
      rowCount: record.rowCount,
      headCount: record.headCount,
      headsHash: record.headsHash.toString("hex"),
      ...(record.digestsHash === null ? {} : { digestsHash: record.digestsHash.toString("hex") }),
      fileName: record.fileName,
      fileSha256: record.fileSha256.toString("hex"),
      createdBefore: record.createdBefore.toISOString(),
      keyId: record.keyId,
      archivedAt: record.archivedAt.toISOString(),
    }),
  );
}

export function signArchive(record: Omit<ArchiveRecord, "signature">, privateKey: KeyObject): Buffer {
  return sign(null, archiveStatement(record), privateKey);
}

export function archiveSignatureIsValid(record: ArchiveRecord, publicKey: KeyObject): boolean {
  return verify(null, archiveStatement(record), publicKey, record.signature);
}

/**
 * The hash over an archive's heads, fed one head at a time in ascending position (the heads of one archive
 * have distinct positions): sha256 of one JSON line per head. Numeric order, so no collation can change it.
 */
export class HeadsHash {
  #hash: Hash = createHash("sha256");
  #count = 0;
  #last = -1n;

  add(head: ArchivedHead): void {
    const position = BigInt(head.position);
    assert(position > this.#last, `heads must come in ascending position (${head.position})`);
    this.#last = position;
    this.#count++;
    this.#hash.update(
      `${JSON.stringify([head.position, head.aggregateType, head.aggregateId, head.version, head.hash.toString("hex")])}\n`,
    );
  }

  get count(): number {
    return this.#count;
  }

  digest(): Buffer {
    return this.#hash.copy().digest();
  }
}

/** An archived event's id and the SHA-256 of its payload, as its archive kept them (outbox_archived_digests). */
export interface ArchivedDigest {
  /** The canonical, lower-case text of the uuid, as Postgres writes it. */
  eventId: string;
  payloadSha256: Buffer;
}

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The hash over an archive's kept digests, fed one digest at a time in ascending event id: sha256 of one JSON
 * line per digest, `["<event id>","<payload sha256 in hex>"]`. Event ids are compared as the canonical
 * lower-case text, whose order is that of their 16 bytes, as Postgres orders a uuid: no collation can change it.
 */
export class DigestsHash {
  #hash: Hash = createHash("sha256");
  #count = 0;
  #last = "";

  add(digest: ArchivedDigest): void {
    assert(CANONICAL_UUID.test(digest.eventId), `not a canonical event id: ${digest.eventId}`);
    assert(digest.eventId > this.#last, `digests must come in ascending event id (${digest.eventId})`);
    this.#last = digest.eventId;
    this.#count++;
    this.#hash.update(`${JSON.stringify([digest.eventId, digest.payloadSha256.toString("hex")])}\n`);
  }

  get count(): number {
    return this.#count;
  }

  digest(): Buffer {
    return this.#hash.copy().digest();
  }
}

export const ARCHIVE_FORMAT = "healthcare-outbox-archive/1";

/** One line of an archive file: every stored column of the row, the hashed ones exactly as they were hashed. */
export interface ArchivedRow {
  txId: string;
  position: string;
  eventId: string;
  eventType: string;
  aggregateType: string;
  aggregateId: string;
  aggregateVersion: number | null;
  topic: string;
  messageKey: string;
  /** The envelope text exactly as stored. */
  payload: string;
  correlationId: string;
  traceparent: string | null;
  /** Absent from the lines of archives written before the outbox kept a tracestate: read as null. */
  tracestate?: string | null;
  createdAt: string;
  previousHash: string | null;
  hash: string;
  patientId: string | null;
}

export function toArchivedRow(row: HistoryRow & { patientId: string | null }): ArchivedRow {
  return {
    txId: row.txId,
    position: row.position,
    eventId: row.eventId,
    eventType: row.eventType,
    aggregateType: row.aggregateType,
    aggregateId: row.aggregateId,
    aggregateVersion: row.aggregateVersion,
    topic: row.topic,
    messageKey: row.messageKey,
    payload: row.payload,
    correlationId: row.correlationId,
    traceparent: row.traceparent,
    tracestate: row.tracestate,
    createdAt: row.createdAt.toISOString(),
    previousHash: row.previousHash?.toString("hex") ?? null,
    hash: row.hash.toString("hex"),
    patientId: row.patientId,
  };
}

export function fromArchivedRow(row: ArchivedRow): HistoryRow {
  return {
    ...row,
    tracestate: row.tracestate ?? null,
    createdAt: new Date(row.createdAt),
    previousHash: row.previousHash === null ? null : Buffer.from(row.previousHash, "hex"),
    hash: Buffer.from(row.hash, "hex"),
  };
}

/** The sha256 of a file as it lies on disk. */
export async function fileSha256(file: string): Promise<Buffer> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest();
}

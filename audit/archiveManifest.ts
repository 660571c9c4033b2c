// The manifest beside each archive file: the signed archive record, the checkpoints it starts after and ends
// at (signed too), the row count and the file's sha256. With the public key, it is all an auditor needs to
// check the file offline (`npm run audit:verify-archive`).
import { z } from "zod";
import { ARCHIVE_FORMAT, type ArchiveRecord } from "./archive.ts";
import type { Checkpoint } from "./checkpoint.ts";

export interface ArchiveManifest {
  format: typeof ARCHIVE_FORMAT;
  file: string;
  sha256: string;
  rows: number;
  /** The checkpoint the previous archive ended at (null: the archive starts the history). */
  after: Checkpoint | null;
  /** The checkpoint the archive ends at. */
  checkpoint: Checkpoint;
  archive: ArchiveRecord;
}

const hex = z.string().regex(/^([0-9a-f]{2})*$/, "must be hex");
const bytes = hex.transform((value) => Buffer.from(value, "hex"));
const decimal = z.string().regex(/^\d{1,20}$/, "must be a decimal integer");
const count = z.number().int().min(0);
const time = z.iso.datetime().transform((value) => new Date(value));

const checkpointJson = z.object({
  sequence: count,
  upToTxId: decimal,
  upToPosition: decimal,
  rowCount: count,
  chainHash: bytes,
  keyId: z.string(),
  signature: bytes,
  sealedAt: time,
});

const manifestJson = z.object({
  format: z.literal(ARCHIVE_FORMAT),
  file: z.string(),
  sha256: hex,
  rows: count,
  after: checkpointJson.nullable(),
  checkpoint: checkpointJson,
  archive: z.object({
    sequence: count,
    checkpointSequence: count,
    afterCheckpointSequence: count,
    upToTxId: decimal,
    upToPosition: decimal,
    rowCount: count,
    headCount: count,
    headsHash: bytes,
    // Absent from the manifests of archives recorded before archives signed their digests' hash (migration 0031).
    digestsHash: bytes.optional().transform((value) => value ?? null),
    fileName: z.string(),
    fileSha256: bytes,
    createdBefore: time,
    keyId: z.string(),
    signature: bytes,
    archivedAt: time,
  }),
});

/** The manifest as JSON text: bytes as hex, times as ISO strings. */
export function manifestText(manifest: ArchiveManifest): string {
  return `${JSON.stringify(
    manifest,
    (_key, value) => {
      if (value && typeof value === "object" && value.type === "Buffer" && Array.isArray(value.data))
        return Buffer.from(value.data).toString("hex");
      return value;
    },
    2,
  )}\n`;
}

/** Parses a manifest; throws naming the first field that is not what a manifest holds. */
export function parseManifest(text: string): ArchiveManifest {
  const result = manifestJson.safeParse(JSON.parse(text));
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`not an archive manifest: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  return result.data as ArchiveManifest;
}

// Record-batch compression: the codecs kafkajs lacks (LZ4, Zstandard, Snappy) registered once, so that every
// consumer reads whatever a producer (the relay, Debezium's Connect worker, or any client with write access to a
// topic) chose, and the one setting that picks what the relay writes. A batch of a codec kafkajs cannot read
// stops its consumer for good (KafkaJSNotImplemented): it is never parked, and no later record is read.
import { compress as zstdCompress, decompress as zstdDecompress } from "@mongodb-js/zstd";
import kafkajs, { type CompressionTypes as CompressionType } from "kafkajs";
import { compressFrameSync, decompressFrameSync } from "lz4-napi";
import { compressSync as snappyCompress, uncompressSync as snappyUncompress } from "snappy";

import type { Env } from "../config/env.ts";

// kafkajs is CommonJS, and Node's ESM loader cannot see these two among its named exports.
const { CompressionCodecs, CompressionTypes } = kafkajs;

/** KAFKA_COMPRESSION's values, Kafka's own `compression.type` names (Connect's producer takes them as they are). */
export type Compression = Env["KAFKA_COMPRESSION"];
export const COMPRESSIONS: readonly Compression[] = ["none", "gzip", "lz4", "zstd"];

const codecTypes: Record<Compression | "snappy", CompressionType> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
  snappy: CompressionTypes.Snappy,
};

/** The codec of a KAFKA_COMPRESSION value, or Snappy's, which the project reads and only other clients write. */
export function compressionType(compression: Compression | "snappy"): CompressionType {
  return codecTypes[compression];
}

// Kafka's LZ4 is the standard frame format (KIP-57), Zstandard its standard frame: both libraries ship
// prebuilt binaries (napi-rs), nothing is compiled at install. LZ4 runs on the calling thread: a batch of a few
// kilobytes (what live load sends) takes 3-12 µs there, and 30-60 µs of CPU through libuv's thread pool, whose
// hand-off costs more than the work; even a 2 MB batch is faster so (3.1 ms against 4.2; docs/performance.md).
// @mongodb-js/zstd has only the thread pool's.
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: (encoder: { buffer: Buffer }) => compressFrameSync(encoder.buffer),
  decompress: (buffer: Buffer) => decompressFrameSync(buffer),
});
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: (encoder: { buffer: Buffer }) => zstdCompress(encoder.buffer, 3),
  decompress: (buffer: Buffer) => zstdDecompress(buffer),
});

// Snappy, which Kafka's own clients write in snappy-java's ("xerial") framing: a 16-byte header (magic, version,
// oldest compatible version), then blocks, each its length (4 bytes, big-endian) and a raw Snappy block. Other
// clients may write one raw block instead. Not offered as KAFKA_COMPRESSION: read, so that no record
// written with it stops a consumer. snappy is napi-rs's, prebuilt as lz4-napi is.
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;
/** snappy-java's block size: what its SnappyOutputStream writes each block from. */
const XERIAL_BLOCK_BYTES = 32 * 1024;

/** A batch in snappy-java's framing, as Kafka's Java producer writes it. */
export function xerialSnappy(data: Buffer): Buffer {
  const header = Buffer.alloc(XERIAL_HEADER_BYTES);
  XERIAL_MAGIC.copy(header);
  header.writeInt32BE(1, 8);
  header.writeInt32BE(1, 12);
  const parts: Buffer[] = [header];
  for (let start = 0; start < data.length; start += XERIAL_BLOCK_BYTES) {
    const block = snappyCompress(data.subarray(start, start + XERIAL_BLOCK_BYTES));
    const length = Buffer.alloc(4);
    length.writeInt32BE(block.length);
    parts.push(length, block);
  }
  return Buffer.concat(parts);
}

/** A Snappy batch, framed by snappy-java or one raw block. */
export function unsnappy(buffer: Buffer): Buffer {
  if (buffer.length < XERIAL_HEADER_BYTES || !buffer.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC))
    return snappyUncompress(buffer) as Buffer;
  const blocks: Buffer[] = [];
  for (let offset = XERIAL_HEADER_BYTES; offset < buffer.length; ) {
    if (offset + 4 > buffer.length) throw new Error("a Snappy batch cut off in a block's length");
    const length = buffer.readInt32BE(offset);
    offset += 4;
    if (length < 0 || offset + length > buffer.length) throw new Error("a Snappy batch cut off in a block");
    blocks.push(snappyUncompress(buffer.subarray(offset, offset + length)) as Buffer);
    offset += length;
  }
  return Buffer.concat(blocks);
}

CompressionCodecs[CompressionTypes.Snappy] = () => ({
  compress: (encoder: { buffer: Buffer }) => xerialSnappy(encoder.buffer),
  decompress: (buffer: Buffer) => unsnappy(buffer),
});

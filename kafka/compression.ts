// Record-batch compression: the codecs kafkajs lacks (LZ4, Zstandard) registered once, so that every consumer
// reads whatever a producer (the relay, or Debezium's Connect worker) chose, and the one setting that picks it.
import { compress as zstdCompress, decompress as zstdDecompress } from "@mongodb-js/zstd";
import kafkajs, { type CompressionTypes as CompressionType } from "kafkajs";
import { compressFrameSync, decompressFrameSync } from "lz4-napi";

import type { Env } from "../config/env.ts";

// kafkajs is CommonJS, and Node's ESM loader cannot see these two among its named exports.
const { CompressionCodecs, CompressionTypes } = kafkajs;

/** KAFKA_COMPRESSION's values, Kafka's own `compression.type` names (Connect's producer takes them as they are). */
export type Compression = Env["KAFKA_COMPRESSION"];
export const COMPRESSIONS: readonly Compression[] = ["none", "gzip", "lz4", "zstd"];

const codecTypes: Record<Compression, CompressionType> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

export function compressionType(compression: Compression): CompressionType {
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

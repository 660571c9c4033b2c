// Where a keyed record goes: the partition Java's clients give it (murmur2 of the key's bytes, made positive,
// modulo the partition count), so that the polling relay and Debezium's Connect producer put each aggregate's
// events in the same partition.
//
// kafkajs' own DefaultPartitioner computes the same murmur2 with an emulated 64-bit Long (an object per
// multiplication) over a new Buffer per key: in a relay catching up, placing each record twice (once to group
// a send by leader, once by kafkajs itself) took a ninth of the relay's time. This is the same function in
// 32-bit arithmetic (`Math.imul`), over the key encoded into one reused buffer.
import type { ICustomPartitioner, PartitionerArgs } from "kafkajs";

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Java's `Utils.murmur2` (the 32-bit MurmurHash2 Kafka's partitioners use), as a signed 32-bit integer. */
export function murmur2(data: Uint8Array, length = data.length): number {
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = (data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16);
    k |= (data[i + 3] as number) << 24;
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  switch (length & 3) {
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: MurmurHash2 mixes in the last bytes by falling through, as Java's does
    case 3:
      h ^= (data[whole + 2] as number) << 16;
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: as above
    case 2:
      h ^= (data[whole + 1] as number) << 8;
    case 1:
      h ^= data[whole] as number;
      h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

let scratch = Buffer.allocUnsafe(256);

/** The partition of 0..`partitions`-1 Java's clients give a record with this key. */
export function partitionOfKey(key: Buffer | string, partitions: number): number {
  let hash: number;
  if (typeof key === "string") {
    if (key.length * 3 > scratch.length) scratch = Buffer.allocUnsafe(key.length * 3);
    hash = murmur2(scratch, scratch.write(key, 0, "utf8"));
  } else hash = murmur2(key);
  return (hash & 0x7fffffff) % partitions;
}

/**
 * A kafkajs partitioner that places records as its DefaultPartitioner does: a record's own partition if it
 * names one, else its key's (above), else the next available partition in turn.
 */
export const keyPartitioner: ICustomPartitioner = () => {
  const counters = new Map<string, number>();
  return ({ topic, partitionMetadata, message }: PartitionerArgs) => {
    if (message.partition != null) return message.partition;
    if (message.key != null) return partitionOfKey(message.key, partitionMetadata.length);
    const turn = (counters.get(topic) ?? Math.floor(Math.random() * 0x7fffffff)) + 1;
    counters.set(topic, turn);
    const available = partitionMetadata.filter((partition) => partition.leader >= 0);
    if (available.length > 0)
      return (available[turn % available.length] as { partitionId: number }).partitionId;
    return turn % partitionMetadata.length;
  };
};

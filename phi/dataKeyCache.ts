// A bounded cache of unwrapped patient data keys, so that a write about a known patient needs no key read and
// no unwrap. Least recently used keys go first; an erased patient's key goes at once (evict), and a key read
// before an eviction is never put back (the generation check below).
//
// A cached key is a copy in memory of its own. An unwrapped key comes from Buffer.concat, which cuts small
// buffers out of a shared 8 KiB pool: kept as it is, each key would keep its whole pool chunk alive, since the
// requests between two keys' reads use the rest of the chunk. A heap snapshot of the platform after 3,000
// `POST /patients` found 2,440 cached keys holding 20 MB that way (about 80 MB at the bound of 10,000).

export class DataKeyCache {
  private readonly keys = new Map<string, Buffer>();
  private evictions = 0;

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new Error(`a data key cache holds at least one key, not ${maxEntries}`);
    }
  }

  get size(): number {
    return this.keys.size;
  }

  has(patientId: string): boolean {
    return this.keys.has(patientId);
  }

  get(patientId: string): Buffer | undefined {
    const key = this.keys.get(patientId);
    if (key) {
      // Map order is insertion order: moving the key to the end makes the first one the least recently used.
      this.keys.delete(patientId);
      this.keys.set(patientId, key);
    }
    return key;
  }

  /**
   * Taken before reading keys from the database, and given back to `put`: a read that overlapped an eviction
   * may have seen the key just before its erasure committed, so it is not cached.
   */
  generation(): number {
    return this.evictions;
  }

  put(patientId: string, key: Buffer, readAtGeneration: number): void {
    if (readAtGeneration !== this.evictions) return;
    this.keys.delete(patientId);
    this.keys.set(patientId, ownCopy(key));
    if (this.keys.size > this.maxEntries) this.keys.delete(this.keys.keys().next().value as string);
  }

  /** The patient's key leaves the cache now (their erasure), and no read begun before this can put it back. */
  evict(patientId: string): void {
    this.evictions++;
    this.keys.delete(patientId);
  }

  /** Every key leaves (erasures may have been missed); reads begun before this cannot put theirs back. */
  clear(): void {
    this.evictions++;
    this.keys.clear();
  }
}

/** `key`'s bytes in a buffer of their own (Buffer.alloc never takes from the pool). */
function ownCopy(key: Buffer): Buffer {
  const copy = Buffer.alloc(key.length);
  key.copy(copy);
  return copy;
}

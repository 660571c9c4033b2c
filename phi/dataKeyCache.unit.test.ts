// The data key cache is bounded, drops the least recently used key first, forgets an erased patient's key at
// once, and never caches a key whose read overlapped an eviction.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DataKeyCache } from "./dataKeyCache.ts";

const key = () => randomBytes(32);

describe("the data key cache", () => {
  it("holds at most its bound, dropping the least recently used key first", () => {
    const cache = new DataKeyCache(2);
    cache.put("a", key(), cache.generation());
    cache.put("b", key(), cache.generation());
    cache.get("a");
    cache.put("c", key(), cache.generation());
    expect(cache.size).toBe(2);
    expect([cache.has("a"), cache.has("b"), cache.has("c")]).toEqual([true, false, true]);
  });

  it("forgets an evicted patient's key at once", () => {
    const cache = new DataKeyCache(10);
    cache.put("a", key(), cache.generation());
    cache.evict("a");
    expect(cache.get("a")).toBeUndefined();
  });

  it("does not cache a key read before an eviction, whoever's it was", () => {
    const cache = new DataKeyCache(10);
    const readAt = cache.generation();
    cache.evict("a");
    cache.put("a", key(), readAt);
    cache.put("b", key(), readAt);
    expect([cache.has("a"), cache.has("b")]).toEqual([false, false]);
  });

  it("keeps its own copy of a key cut from Buffer's shared pool, not the pool's whole chunk", () => {
    const cache = new DataKeyCache(10);
    const pooled = Buffer.concat([key().subarray(0, 16), key().subarray(0, 16)]);
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    cache.put("a", pooled, cache.generation());
    const cached = cache.get("a") as Buffer;
    expect(cached.equals(pooled)).toBe(true);
    expect(cached.buffer.byteLength).toBe(32);
  });

  it("refuses a bound below one key", () => {
    expect(() => new DataKeyCache(0)).toThrow(/at least one key/);
  });
});

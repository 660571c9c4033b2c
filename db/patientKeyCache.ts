// Each database's cache of unwrapped patient keys in this process, and what keeps it honest across processes:
// an erasure notifies `patient_key_erased` (in its transaction, so at its commit), and every process's
// listener evicts the key. While its listener is not connected, a process uses no cache at all (fail closed):
// it could miss an erasure. A connection can also die without a word (a network partition, a frozen server
// process): the listener asks Postgres every HEARTBEAT_MS, and a cache whose listener has not been heard from
// for LEASE_MS is used no more and cleared, as if its connection had dropped.
import pg from "pg";
import { DataKeyCache } from "../phi/dataKeyCache.ts";

/** The channel an erasure notifies, with the patient id as payload (db/patientKeys.ts destroyDataKey). */
export const KEY_ERASED_CHANNEL = "patient_key_erased";
/** Keys kept per database: 10,000 patients' 32 bytes each, well under a megabyte. */
export const KEY_CACHE_ENTRIES = 10_000;
const RECONNECT_PAUSE_MS = 1_000;
/** How often the listener asks its connection for an answer. */
export const HEARTBEAT_MS = 1_000;
/** How long a cache is trusted after its listener was last heard from: an erasure missed is missed no longer. */
export const LEASE_MS = 3_000;

class ListenedKeyCache {
  readonly keys = new DataKeyCache(KEY_CACHE_ENTRIES);
  private listener: pg.Client | null = null;
  private listening = false;
  /** When the listener last answered (or delivered a notification). */
  private heardAt = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  private connecting: Promise<void> | null = null;
  private lastAttempt = 0;
  private closed = false;

  constructor(private readonly connectionString: string | undefined) {}

  /** The cache when its listener is connected; otherwise null, and a connection is (re)started. */
  usable(): DataKeyCache | null {
    if (this.listening && !this.silent()) return this.keys;
    if (this.listening && this.listener) this.drop(this.listener);
    if (!this.closed && !this.connecting && Date.now() - this.lastAttempt >= RECONNECT_PAUSE_MS) {
      this.lastAttempt = Date.now();
      this.connecting = this.listen().finally(() => {
        this.connecting = null;
      });
    }
    return null;
  }

  /** Resolves once the listener is connected (or has failed to connect): for tests and warm-up. */
  async ready(): Promise<boolean> {
    this.usable();
    await this.connecting;
    return this.listening;
  }

  /** With its pool: the listener's connection ends, and the cache is used no more. */
  async close(): Promise<void> {
    this.closed = true;
    this.listening = false;
    this.stopHeartbeat();
    this.keys.clear();
    await this.connecting;
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => {});
  }

  private async listen(): Promise<void> {
    const listener = new pg.Client({
      connectionString: this.connectionString,
      application_name: "patient-key-evictions",
      keepAlive: true,
    });
    const lost = () => this.drop(listener);
    listener.on("error", lost);
    listener.on("end", lost);
    listener.on("notification", (message) => {
      this.heardAt = Date.now();
      if (message.channel === KEY_ERASED_CHANNEL && message.payload) this.keys.evict(message.payload);
    });
    try {
      await listener.connect();
      await listener.query(`LISTEN ${KEY_ERASED_CHANNEL}`);
    } catch {
      await listener.end().catch(() => {});
      return;
    }
    if (this.closed) {
      await listener.end().catch(() => {});
      return;
    }
    this.keys.clear();
    this.listener = listener;
    this.listening = true;
    this.heardAt = Date.now();
    this.startHeartbeat(listener);
  }

  /** The Postgres backend the listener is connected to, while it is: status pages and fault tests. */
  get listenerProcessId(): number | null {
    return this.listening ? ((this.listener as unknown as { processID?: number })?.processID ?? null) : null;
  }

  private silent(): boolean {
    return Date.now() - this.heardAt > LEASE_MS;
  }

  /** One question at a time: an answer moves heardAt; none for LEASE_MS drops the listener. */
  private startHeartbeat(listener: pg.Client): void {
    let asking = false;
    this.heartbeat = setInterval(() => {
      if (this.listener !== listener) return;
      if (this.silent()) {
        this.drop(listener);
        return;
      }
      if (asking) return;
      asking = true;
      listener
        .query("SELECT 1")
        .then(() => {
          if (this.listener === listener) this.heardAt = Date.now();
        })
        .catch(() => this.drop(listener))
        .finally(() => {
          asking = false;
        });
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  /** The listener is gone or silent: erasures may be missed from now on, so no key read before may be used. */
  private drop(listener: pg.Client): void {
    if (this.listener !== listener) return;
    this.listening = false;
    this.listener = null;
    this.stopHeartbeat();
    this.keys.clear();
    // Not awaited: on a connection that answers nothing, ending it waits as long as the silence does.
    void listener.end().catch(() => {});
  }
}

const caches = new WeakMap<pg.Pool, ListenedKeyCache>();

function cacheFor(pool: pg.Pool): ListenedKeyCache {
  let cache = caches.get(pool);
  if (!cache) {
    cache = new ListenedKeyCache(pool.options.connectionString);
    caches.set(pool, cache);
  }
  return cache;
}

/** Ends the pool's eviction listener (createDatabase's pool does it in its `end`). */
export async function closeKeyCache(pool: pg.Pool): Promise<void> {
  await caches.get(pool)?.close();
}

/** This pool's key cache if it can be trusted now (its eviction listener is connected), else null. */
export function usableKeyCache(pool: pg.Pool): DataKeyCache | null {
  return cacheFor(pool).usable();
}

/**
 * The usable cache's generation, taken before keys are read (DataKeyCache.put); null when no cache is usable,
 * and a key read then is not cached.
 */
export function keyCacheGeneration(pool: pg.Pool): number | null {
  return usableKeyCache(pool)?.generation() ?? null;
}

/** This pool's key cache, whether usable or not: erasure evicts from it, tests look into it. */
export function keyCache(pool: pg.Pool): DataKeyCache {
  return cacheFor(pool).keys;
}

/** The Postgres backend of the pool's eviction listener, while it is connected. */
export function keyCacheListenerProcessId(pool: pg.Pool): number | null {
  return cacheFor(pool).listenerProcessId;
}

/** Connects the pool's eviction listener; true once the cache is in use. */
export function keyCacheReady(pool: pg.Pool): Promise<boolean> {
  return cacheFor(pool).ready();
}

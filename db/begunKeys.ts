// The data keys of the patients a write transaction declares (writeTransaction's `lockAggregate` and
// `appendsTo`), read in the round trip that begins it, as their aggregates' heads are: a declared patient's key
// then costs no statement of its own (db/patientKeys.ts dataKeysForWriting), and a new patient's, made then,
// is inserted by the statement that writes the outbox rows sealed under it (insertOutboxRows.ts).
import pg from "pg";
import type { KeyCandidate } from "./readOrMakeKeys.ts";
import type { patientKeys } from "./schema.ts";

/** A patient's key row as the write path reads it: wrapped, or erased (both null). */
export type KeyRow = Pick<typeof patientKeys.$inferSelect, "patientId" | "masterKeyId" | "wrappedKey">;

/** A declared aggregate of this type is a patient: writeTransaction reads their key as it begins. */
export const PATIENT_AGGREGATE = "patient";

/**
 * What a transaction learned of its declared patients' keys as it began, per connection: the row, or null when
 * the patient had none; once this transaction made one, the key it made, which its outbox rows' statement
 * inserts (`takeKeysToInsert`).
 */
export type BegunKey = KeyRow | null | { made: KeyCandidate; key: Buffer; inserted: boolean };
export interface BegunKeys {
  keys: Map<string, BegunKey>;
  /** The key cache's generation before the read was sent (null: no cache was usable): a key read is cached
   * only if no erasure was notified since (db/patientKeyCache.ts). */
  cacheReadAt: number | null;
}
const begunKeys = new WeakMap<pg.ClientBase, BegunKeys>();

/**
 * The statement that reads the declared patients' keys, sent after BEGIN in the simple query that reads the
 * aggregates' heads (the ids are written in as literals, quoted by the driver), in the transaction's snapshot.
 */
export function readKeysSql(patientIds: readonly string[]): string {
  const ids = patientIds.map((id) => pg.escapeLiteral(id));
  return `SELECT patient_id AS "patientId", master_key_id AS "masterKeyId", wrapped_key AS "wrappedKey"
  FROM patient_keys WHERE patient_id = ANY(ARRAY[${ids.join(", ")}]::uuid[])`;
}

/** Keeps what `readKeysSql` read for the transaction now open on `client`; replaces an earlier attempt's. */
export function keepKeys(
  client: pg.ClientBase,
  patientIds: readonly string[],
  rows: unknown[],
  cacheReadAt: number | null,
): void {
  const keys = new Map<string, BegunKey>(patientIds.map((id) => [id, null]));
  for (const row of rows as KeyRow[]) keys.set(row.patientId, row);
  begunKeys.set(client, { keys, cacheReadAt });
}

/** Forgets them when the transaction ends: they belong to its snapshot, and the connection goes back. */
export function forgetKeys(client: pg.ClientBase): void {
  begunKeys.delete(client);
}

/**
 * The keys this transaction made for declared patients who had none and has not written yet: the caller
 * inserts them with the outbox rows sealed under them, in one statement (insertOutboxRows), and they count as
 * written from then on.
 */
export function takeKeysToInsert(client: pg.ClientBase): KeyCandidate[] {
  const made: KeyCandidate[] = [];
  for (const begun of begunKeys.get(client)?.keys.values() ?? []) {
    if (begun !== null && "made" in begun && !begun.inserted) {
      made.push(begun.made);
      begun.inserted = true;
    }
  }
  return made;
}

/**
 * Throws when the transaction made a key that it never wrote: whatever it sealed under that key could never be
 * opened. Called before COMMIT; appendEvents writes every key it made with the outbox rows.
 */
export function assertKeysWritten(client: pg.ClientBase): void {
  for (const [patientId, begun] of begunKeys.get(client)?.keys ?? []) {
    if (begun !== null && "made" in begun && !begun.inserted) {
      throw new Error(`the data key made for patient ${patientId} was never written; nothing is committed`);
    }
  }
}

/** A copy of what the transaction knows of its keys now, to put back when a savepoint rolls back. */
export function keysAsTheyAre(client: pg.ClientBase): Map<string, BegunKey> | undefined {
  const keys = begunKeys.get(client)?.keys;
  if (!keys) return undefined;
  return new Map(
    [...keys].map(([patientId, begun]) => [patientId, begun && "made" in begun ? { ...begun } : begun]),
  );
}

/** Puts back what `keysAsTheyAre` copied: a savepoint rolled back what the transaction did since. */
export function putKeysBack(client: pg.ClientBase, before: ReadonlyMap<string, BegunKey>): void {
  const keys = begunKeys.get(client)?.keys;
  if (!keys) return;
  keys.clear();
  for (const [patientId, begun] of before) keys.set(patientId, begun);
}

/**
 * The transaction destroyed the patient's key (erasure): what it read of it as it began is the key no more. Else
 * the events the erasure appends next (patient.deleted) would have their request metadata sealed under the key just
 * destroyed, where an erased patient's events leave it out: a consumer that skips what it cannot open would skip
 * the erasure itself, and keep what it holds of the patient.
 */
export function keyDestroyed(client: pg.ClientBase, patientId: string): void {
  const keys = begunKeys.get(client)?.keys;
  if (keys?.has(patientId)) keys.set(patientId, { patientId, masterKeyId: null, wrappedKey: null });
}

/** What this transaction learned of its declared patients' keys; undefined when it declared none. */
export function begunKeysOf(client: pg.ClientBase): BegunKeys | undefined {
  return begunKeys.get(client);
}

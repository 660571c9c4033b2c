// Each patient's data key: made when the first event with their personal data is written, stored wrapped by
// the current master key (db table patient_keys), and destroyed by erasure, which makes every field ever
// sealed under it unreadable (crypto-shredding) without touching a byte of the history.
import { randomBytes } from "node:crypto";
import { and, eq, inArray, isNotNull, ne, sql } from "drizzle-orm";
import { DataFreeError } from "../events/dataFreeError.ts";
import type { DataKeyCache } from "../phi/dataKeyCache.ts";
import type { PatientKeySource } from "../phi/decryptEvent.ts";
import { CiphertextRejected, decrypt, encrypt, KEY_BYTES } from "../phi/fieldCipher.ts";
import type { MasterKeys } from "../phi/masterKeys.ts";
import { type BegunKeys, begunKeysOf, type KeyRow, keyDestroyed } from "./begunKeys.ts";
import { connectionOf, type Database, poolOf, type WriteTransaction } from "./client.ts";
import { KEY_ERASED_CHANNEL, keyCache, usableKeyCache } from "./patientKeyCache.ts";
import { readOrMakeKeys } from "./readOrMakeKeys.ts";
import { patientKeys } from "./schema.ts";

/** The patient was erased: their key is gone, and with it every personal field ever written about them. */
export class PatientErased extends DataFreeError {
  constructor(readonly patientId: string) {
    super(`patient ${patientId} was erased: their personal data can no longer be read or written`);
    this.name = "PatientErased";
  }
}

/** Fields are sealed for a patient who has no key: they were written elsewhere, or the key row was removed. */
export class PatientKeyMissing extends DataFreeError {
  constructor(readonly patientId: string) {
    super(`there is no data key for patient ${patientId}`);
    this.name = "PatientKeyMissing";
  }
}

/** A key is wrapped by a master key this process was not given (PHI_MASTER_KEYS lacks it). */
export class MasterKeyMissing extends DataFreeError {
  constructor(readonly masterKeyId: string) {
    super(`PHI_MASTER_KEYS has no key "${masterKeyId}", which wraps patient keys still in use`);
    this.name = "MasterKeyMissing";
  }
}

/**
 * The master key of that id does not open a key it is recorded to have wrapped: PHI_MASTER_KEYS gives other
 * bytes under the id (a typo, another environment's key), or the wrapped key was altered. Like a missing
 * master key, the operator's to fix, never the event's fault: no event that needs the key can be read or
 * written until it is.
 */
export class MasterKeyRejected extends DataFreeError {
  constructor(
    readonly masterKeyId: string,
    /** The patient whose data key it is; null for the erased-login key (db/erasedLogins.ts). */
    readonly patientId: string | null,
  ) {
    super(
      `PHI_MASTER_KEYS' key "${masterKeyId}" does not open ${patientId === null ? "the erased-login key" : `the data key of patient ${patientId}`} that it is recorded to have wrapped: the key under that id is not the one that wrapped it, or the wrapped key was altered`,
    );
    this.name = "MasterKeyRejected";
  }
}

/** The process's master keys cannot unwrap a patient's key: a configuration fault, to wait out, not to park. */
export function isMasterKeyFault(error: unknown): error is MasterKeyMissing | MasterKeyRejected {
  return error instanceof MasterKeyMissing || error instanceof MasterKeyRejected;
}

const keyColumns = {
  patientId: patientKeys.patientId,
  masterKeyId: patientKeys.masterKeyId,
  wrappedKey: patientKeys.wrappedKey,
};

/** The wrapped key names its patient in its associated data: a key row copied to another patient fails. */
const wrapContext = (patientId: string) => `patient-key:${patientId}`;

function wrap(masters: MasterKeys, patientId: string, dataKey: Buffer) {
  const master = masters.keys.get(masters.currentId) as Buffer;
  return { masterKeyId: masters.currentId, wrappedKey: encrypt(master, dataKey, wrapContext(patientId)) };
}

function unwrap(masters: MasterKeys, row: KeyRow): Buffer {
  if (row.wrappedKey === null || row.masterKeyId === null) throw new PatientErased(row.patientId);
  const master = masters.keys.get(row.masterKeyId);
  if (!master) throw new MasterKeyMissing(row.masterKeyId);
  try {
    return decrypt(
      master,
      row.wrappedKey,
      wrapContext(row.patientId),
      `the data key of patient ${row.patientId}`,
    );
  } catch (error) {
    // Not CiphertextRejected, which a reader takes for a bad event: every event of every patient whose key
    // this master key wrapped would be refused with it.
    if (error instanceof CiphertextRejected) throw new MasterKeyRejected(row.masterKeyId, row.patientId);
    throw error;
  }
}

/**
 * The data keys to seal these patients' fields with, inside the writing transaction; missing keys are made.
 * A key in this process's cache (db/patientKeyCache.ts) costs nothing. A declared patient's key was read as the
 * transaction began (writeTransaction): found, it is unwrapped; absent, one is made here and inserted by the
 * statement that writes the outbox rows (a new patient's first write sends no statement for its key). The
 * others are read, or made, in one statement. No lock is taken: a transaction that read a key just before an
 * erasure committed seals its fields under the destroyed key, which makes them exactly as unreadable as the
 * erased patient's older ones. (The state rows are kept out of the race by the patient row: erasure locks and
 * deletes it, and writers lock it or reference it by a foreign key.)
 */
export async function dataKeysForWriting(
  tx: WriteTransaction,
  patientIds: readonly string[],
  masters: MasterKeys,
): Promise<Map<string, Buffer>> {
  const client = connectionOf(tx);
  const cache = usableKeyCache(poolOf(tx));
  const begun = begunKeysOf(client);
  const keys = new Map<string, Buffer>();
  const missing: string[] = [];
  for (const patientId of [...new Set(patientIds)].sort()) {
    const cached = cache?.get(patientId);
    const read = begun?.keys.get(patientId);
    if (cached) keys.set(patientId, cached);
    else if (read === undefined) missing.push(patientId);
    else if (read === null) {
      const key = randomBytes(KEY_BYTES);
      const made = { patientId, ...wrap(masters, patientId, key) };
      begun?.keys.set(patientId, { made, key, inserted: false });
      keys.set(patientId, key);
    } else keys.set(patientId, "made" in read ? read.key : unwrapBegun(masters, read, begun, cache));
  }
  if (missing.length === 0) return keys;
  const readAt = cache?.generation() ?? 0;
  // A key is made for each missing one in case it has none: a random key and one AES-GCM wrap cost far less
  // than a second round trip.
  const candidates = new Map(missing.map((patientId) => [patientId, randomBytes(KEY_BYTES)]));
  const rows = await readOrMakeKeys(
    client,
    missing.map((patientId) => ({
      patientId,
      ...wrap(masters, patientId, candidates.get(patientId) as Buffer),
    })),
  );
  for (const row of rows) {
    if (row.made) {
      // Used as made, and not cached until it is read back committed: a rollback would leave a cached key
      // that no row holds, and fields sealed under it that nobody could open.
      keys.set(row.patientId, candidates.get(row.patientId) as Buffer);
    } else {
      const key = unwrap(masters, row);
      keys.set(row.patientId, key);
      cache?.put(row.patientId, key, readAt);
    }
  }
  // A concurrent writer making the same key conflicts in the insert; under REPEATABLE READ that is a
  // serialization failure, and writeTransaction runs the whole transaction again, which then reads the key.
  for (const patientId of missing) {
    if (!keys.has(patientId)) throw new Error(`no data key was read or made for patient ${patientId}`);
  }
  return keys;
}

/** A key read as the transaction began, unwrapped, and cached if no erasure was notified since it was read. */
function unwrapBegun(
  masters: MasterKeys,
  row: KeyRow,
  begun: BegunKeys | undefined,
  cache: DataKeyCache | null,
): Buffer {
  const key = unwrap(masters, row);
  if (begun?.cacheReadAt != null) cache?.put(row.patientId, key, begun.cacheReadAt);
  return key;
}

/**
 * The live data keys of these patients, for sealing what is personal only when they have a key (request
 * metadata): none is made, and an erased or unknown patient is simply not in the map.
 */
export async function liveDataKeys(
  tx: WriteTransaction,
  patientIds: readonly string[],
  masters: MasterKeys,
): Promise<Map<string, Buffer>> {
  if (patientIds.length === 0) return new Map();
  const cache = usableKeyCache(poolOf(tx));
  const begun = begunKeysOf(connectionOf(tx));
  const keys = new Map<string, Buffer>();
  const missing: string[] = [];
  for (const patientId of new Set(patientIds)) {
    const cached = cache?.get(patientId);
    const read = begun?.keys.get(patientId);
    if (cached) keys.set(patientId, cached);
    else if (read === undefined) missing.push(patientId);
    else if (read !== null && "made" in read) keys.set(patientId, read.key);
    else if (read !== null && read.wrappedKey !== null) {
      keys.set(patientId, unwrapBegun(masters, read, begun, cache));
    }
  }
  if (missing.length === 0) return keys;
  const readAt = cache?.generation() ?? 0;
  const rows = await tx
    .select(keyColumns)
    .from(patientKeys)
    .where(and(inArray(patientKeys.patientId, missing), isNotNull(patientKeys.wrappedKey)));
  for (const row of rows) {
    const key = unwrap(masters, row);
    keys.set(row.patientId, key);
    cache?.put(row.patientId, key, readAt);
  }
  return keys;
}

/** One patient's data key for reading; PatientErased after erasure, PatientKeyMissing if there never was one. */
export async function dataKeyForReading(
  db: Database,
  patientId: string,
  masters: MasterKeys,
): Promise<Buffer> {
  // Every sealed event a consumer reads costs one: a named statement, parsed and planned once per connection.
  const { rows } = await db.$client.query<KeyRow>({
    name: "patient-keys.read.v1",
    text: `SELECT patient_id AS "patientId", master_key_id AS "masterKeyId", wrapped_key AS "wrappedKey"
             FROM patient_keys WHERE patient_id = $1`,
    values: [patientId],
  });
  const [row] = rows;
  if (!row) throw new PatientKeyMissing(patientId);
  return unwrap(masters, row);
}

/**
 * Destroys the patient's key (crypto-shredding) and keeps the row as the record of the erasure; a patient
 * who never had a key gets an erased row, so that none is made for them later. False if already erased.
 */
export async function destroyDataKey(
  tx: WriteTransaction,
  patientId: string,
  erasedAt: Date,
): Promise<boolean> {
  // This process forgets the key now; every process (this one too, against a write that read the key before
  // this) forgets it again when the erasure commits and its notification arrives (db/patientKeyCache.ts).
  keyCache(poolOf(tx)).evict(patientId);
  keyDestroyed(connectionOf(tx), patientId);
  await tx.execute(sql`SELECT pg_notify(${KEY_ERASED_CHANNEL}, ${patientId})`);
  const erased = { masterKeyId: null, wrappedKey: null, erasedAt };
  const [row] = await tx
    .insert(patientKeys)
    .values({ patientId, ...erased })
    .onConflictDoUpdate({
      target: patientKeys.patientId,
      set: erased,
      setWhere: sql`${patientKeys.erasedAt} IS NULL`,
    })
    .returning({ patientId: patientKeys.patientId });
  return row !== undefined;
}

/**
 * Re-wraps every live key not wrapped by the current master key, in batches: after it, the older master keys
 * can be dropped from PHI_MASTER_KEYS. Returns how many keys moved. Data keys (and so the history) are unchanged.
 */
export async function rewrapDataKeys(db: Database, masters: MasterKeys, batchSize = 1_000): Promise<number> {
  let moved = 0;
  for (;;) {
    const count = await db.transaction(async (tx) => {
      const rows = await tx
        .select(keyColumns)
        .from(patientKeys)
        .where(and(isNotNull(patientKeys.wrappedKey), ne(patientKeys.masterKeyId, masters.currentId)))
        .limit(batchSize)
        .for("update");
      for (const row of rows) {
        await tx
          .update(patientKeys)
          .set(wrap(masters, row.patientId, unwrap(masters, row)))
          .where(eq(patientKeys.patientId, row.patientId));
      }
      return rows.length;
    });
    moved += count;
    // Only a batch that finds none ends it. A short one may have waited for rows another transaction held (a
    // second re-wrap), while a key wrapped since with an older master key (by a process not yet given the new
    // PHI_MASTER_KEYS) is seen by the next statement only: phi:rewrap would then say the older master key is
    // needed no more while that key is still under it.
    if (count === 0) return moved;
  }
}

/**
 * Patient keys read from patient_keys and unwrapped with this process's master keys, for reading events. Not
 * cached (unlike the keys for writing): an erasure takes effect for the very next event read, in every process.
 */
export class PatientKeyring implements PatientKeySource {
  constructor(
    private readonly db: Database,
    private readonly masters: MasterKeys,
  ) {}

  dataKey(patientId: string): Promise<Buffer> {
    return dataKeyForReading(this.db, patientId, this.masters);
  }
}

// Erased patients' e-mail addresses, current and former, kept as keyed hashes only (erased_logins), so that a
// login attempt typing one after the erasure is recorded under a pseudonym rather than the address; and live
// patients' former addresses (patient_former_logins), so that one typed is still the patient's, and sealed
// (apps/login-attempts/routes.ts).
// The hash key is random, made by the first erasure or change of e-mail and stored wrapped by the current master key
// (erased_login_key); `npm run phi:rewrap` moves it to a new master key as it does the patients' keys, so a
// rotation changes no hash, and the old master key can still be dropped.
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { loginHash } from "../phi/erasedLoginPseudonym.ts";
import { CiphertextRejected, decrypt, encrypt, KEY_BYTES } from "../phi/fieldCipher.ts";
import type { MasterKeys } from "../phi/masterKeys.ts";
import { connectionOf, type Database, poolOf, type WriteTransaction } from "./client.ts";
import { MasterKeyMissing, MasterKeyRejected } from "./patientKeys.ts";
import { erasedLoginKey } from "./schema.ts";

const WRAP_CONTEXT = "erased-login-key";

interface KeyRow {
  masterKeyId: string;
  wrappedKey: Buffer;
}

/** Each database's erased-login key, once read committed: it never changes (a rotation re-wraps it only). */
const unwrappedKeys = new WeakMap<pg.Pool, Buffer>();

function wrap(masters: MasterKeys, key: Buffer): KeyRow {
  const master = masters.keys.get(masters.currentId) as Buffer;
  return { masterKeyId: masters.currentId, wrappedKey: encrypt(master, key, WRAP_CONTEXT) };
}

function unwrap(masters: MasterKeys, row: KeyRow): Buffer {
  const master = masters.keys.get(row.masterKeyId);
  if (!master) throw new MasterKeyMissing(row.masterKeyId);
  try {
    return decrypt(master, row.wrappedKey, WRAP_CONTEXT, "the erased-login key");
  } catch (error) {
    if (error instanceof CiphertextRejected) throw new MasterKeyRejected(row.masterKeyId, null);
    throw error;
  }
}

const readKey = {
  name: "erased-login-key.read.v1",
  text: 'SELECT master_key_id AS "masterKeyId", wrapped_key AS "wrappedKey" FROM erased_login_key',
};

// As for patients' keys (db/readOrMakeKeys.ts): the row that was there, or the candidate inserted; a concurrent
// erasure making it too conflicts, and under REPEATABLE READ its transaction runs again and reads this one.
const readOrMakeKey = `
WITH made AS (
  INSERT INTO erased_login_key (master_key_id, wrapped_key) VALUES ($1, $2)
  ON CONFLICT (singleton) DO NOTHING
  RETURNING master_key_id, wrapped_key
)
SELECT master_key_id AS "masterKeyId", wrapped_key AS "wrappedKey", true AS made FROM made
UNION ALL
SELECT master_key_id AS "masterKeyId", wrapped_key AS "wrappedKey", false AS made FROM erased_login_key`;

/** The key, made if there is none yet: for an erasure. */
async function keyForRecording(tx: WriteTransaction, masters: MasterKeys): Promise<Buffer> {
  const cached = unwrappedKeys.get(poolOf(tx));
  if (cached) return cached;
  const candidate = randomBytes(KEY_BYTES);
  const wrapped = wrap(masters, candidate);
  const { rows } = await connectionOf(tx).query<KeyRow & { made: boolean }>({
    name: "erased-login-key.read-or-make.v1",
    text: readOrMakeKey,
    values: [wrapped.masterKeyId, wrapped.wrappedKey],
  });
  const [row] = rows;
  if (!row) throw new Error("the erased-login key was neither read nor made");
  // A key made here is not cached: were the erasure rolled back, no row would hold it.
  if (row.made) return candidate;
  const key = unwrap(masters, row);
  unwrappedKeys.set(poolOf(tx), key);
  return key;
}

/** The key, or null when no erasure ever made one (then no address was ever erased). */
async function keyForMatching(tx: WriteTransaction, masters: MasterKeys): Promise<Buffer | null> {
  const cached = unwrappedKeys.get(poolOf(tx));
  if (cached) return cached;
  const { rows } = await connectionOf(tx).query<KeyRow>(readKey);
  const [row] = rows;
  if (!row) return null;
  const key = unwrap(masters, row);
  unwrappedKeys.set(poolOf(tx), key);
  return key;
}

/**
 * Records an erased patient's e-mail addresses (their current one and every former one) as their hashes, in
 * the erasure's transaction: one statement, however many.
 */
export async function recordErasedLogins(
  tx: WriteTransaction,
  masters: MasterKeys,
  emails: readonly string[],
  erasedAt: Date,
): Promise<void> {
  const key = await keyForRecording(tx, masters);
  await connectionOf(tx).query({
    name: "erased-logins.record.v2",
    text: `INSERT INTO erased_logins (email_hash, erased_at) SELECT unnest($1::bytea[]), $2::timestamptz
           ON CONFLICT (email_hash) DO NOTHING`,
    values: [emails.map((email) => loginHash(key, email)), erasedAt.toISOString()],
  });
}

/**
 * The hash of `typed` when it is an erased patient's e-mail address (in any case, blanks around it ignored),
 * else null: one lookup on erased_logins' primary key, once the process has read the key.
 */
export async function erasedLoginHash(
  tx: WriteTransaction,
  masters: MasterKeys,
  typed: string,
): Promise<Buffer | null> {
  const key = await keyForMatching(tx, masters);
  if (key === null) return null;
  const hash = loginHash(key, typed);
  const { rows } = await connectionOf(tx).query({
    name: "erased-logins.match.v1",
    text: "SELECT 1 FROM erased_logins WHERE email_hash = $1",
    values: [hash],
  });
  return rows.length > 0 ? hash : null;
}

/**
 * Records `email` as a former address of the patient, when a change of e-mail replaces it, so that a login
 * typing it is still theirs (patientOfFormerLogin): its hash under the erased-login key, never the address.
 */
export async function recordFormerLogin(
  tx: WriteTransaction,
  masters: MasterKeys,
  patientId: string,
  email: string,
  replacedAt: Date,
): Promise<void> {
  const key = await keyForRecording(tx, masters);
  await connectionOf(tx).query({
    name: "patient-former-logins.record.v1",
    text: `INSERT INTO patient_former_logins (email_hash, patient_id, replaced_at) VALUES ($1, $2, $3::timestamptz)
           ON CONFLICT (email_hash, patient_id) DO NOTHING`,
    values: [loginHash(key, email), patientId, replacedAt.toISOString()],
  });
}

/**
 * The patient who had `typed` as their e-mail address before changing it (in any case, blanks around it
 * ignored), the record made first when several did; null for none. No key yet means no address was recorded.
 */
export async function patientOfFormerLogin(
  tx: WriteTransaction,
  masters: MasterKeys,
  typed: string,
): Promise<string | null> {
  const key = await keyForMatching(tx, masters);
  if (key === null) return null;
  const { rows } = await connectionOf(tx).query<{ patientId: string }>({
    name: "patient-former-logins.match.v1",
    text: `SELECT p.id AS "patientId" FROM patient_former_logins f JOIN patients p ON p.id = f.patient_id
            WHERE f.email_hash = $1 ORDER BY p.created_at, p.id LIMIT 1`,
    values: [loginHash(key, typed)],
  });
  return rows[0]?.patientId ?? null;
}

/** Re-wraps the erased-login key with the current master key, if an older one wraps it. True if it moved. */
export async function rewrapErasedLoginKey(db: Database, masters: MasterKeys): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select({ masterKeyId: erasedLoginKey.masterKeyId, wrappedKey: erasedLoginKey.wrappedKey })
      .from(erasedLoginKey)
      .for("update");
    if (row === undefined || row.masterKeyId === masters.currentId) return false;
    await tx.update(erasedLoginKey).set(wrap(masters, unwrap(masters, row)));
    return true;
  });
}

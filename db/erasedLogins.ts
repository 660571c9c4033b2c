// Erased patients' e-mail addresses and phone numbers, current and former, kept as keyed hashes only
// (erased_logins), so that a login attempt typing one after the erasure is recorded under a pseudonym rather than
// the address or number; and live patients' former ones (patient_former_logins), so that one typed is still the
// patient's, and sealed (apps/login-attempts/routes.ts); and the logins typed by login attempts kept for an
// Idempotency-Key (idempotency_keys.login_hashes), so that an erasure finds them. A phone number is kept as the
// hashes of its forms (phi/loginPhone.ts), which its spellings with or without a country code meet.
// The hash key is random, made by the first of those to need it and stored wrapped by the current
// master key (erased_login_key); `npm run phi:rewrap` moves it to a new master key as it does the patients' keys,
// so a rotation changes no hash, and the old master key can still be dropped.
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { erasedLoginPseudonym, formHash, loginHash, normalizedLogin } from "../phi/erasedLoginPseudonym.ts";
import { CiphertextRejected, decrypt, encrypt, KEY_BYTES } from "../phi/fieldCipher.ts";
import {
  phoneForms,
  type TypedPhone,
  typedPhone,
  typedPhoneForms,
  wholeNumberForm,
} from "../phi/loginPhone.ts";
import type { MasterKeys } from "../phi/masterKeys.ts";
import { spelledLogin } from "../phi/spelledLogin.ts";
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

/** The key, made if there is none yet: for recording a hash (an erasure, a change, a kept login attempt). */
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
 * What an erasure records of a patient's logins: their e-mail addresses and phone numbers, current and former,
 * and the account (the login's user id) their record belonged to.
 */
export interface ErasedLogins {
  emails: readonly string[];
  phones: readonly string[];
  accounts: readonly string[];
}

/** The form an account is hashed in: no address (it has no @) and no phone number's form (it has letters). */
const accountForm = (userId: string) => `account:${userId.toLowerCase()}`;

/**
 * Records an erased patient's e-mail addresses and phone numbers (their current ones and every former one) as
 * their hashes, in the erasure's transaction: one statement, however many. A number goes in as each of its
 * forms, each naming the whole number's hash as its pseudonym's. Returns every hash, recorded now or before.
 */
export async function recordErasedLogins(
  tx: WriteTransaction,
  masters: MasterKeys,
  { emails, phones, accounts }: ErasedLogins,
  erasedAt: Date,
): Promise<Buffer[]> {
  const key = await keyForRecording(tx, masters);
  const hashes = [
    ...emails.map((email) => loginHash(key, email)),
    ...accounts.map((account) => formHash(key, accountForm(account))),
  ];
  const pseudonyms: Array<Buffer | null> = hashes.map(() => null);
  for (const phone of phones) {
    const whole = formHash(key, wholeNumberForm(phone));
    for (const form of phoneForms(phone)) {
      hashes.push(formHash(key, form));
      pseudonyms.push(whole);
    }
  }
  await connectionOf(tx).query({
    name: "erased-logins.record.v3",
    text: `INSERT INTO erased_logins (email_hash, pseudonym_hash, erased_at)
           SELECT hash, pseudonym, $3::timestamptz FROM unnest($1::bytea[], $2::bytea[]) AS login(hash, pseudonym)
           ON CONFLICT (email_hash) DO NOTHING`,
    values: [hashes, pseudonyms, erasedAt.toISOString()],
  });
  return hashes;
}

/**
 * The hashes under which a request naming `login` (a login attempt's username, escapes decoded) stays findable
 * by the erasure of the patient whose address or number it is, then or later: an e-mail address's hash, or
 * the hash of each form a typed phone number may take (phi/loginPhone.ts), as erased_logins holds a patient's.
 * None for a username that is neither, which no patient's login can be.
 */
export async function loginHashesOf(
  tx: WriteTransaction,
  masters: MasterKeys,
  login: string,
): Promise<Buffer[]> {
  const phone = typedPhone(login);
  if (phone === null && !normalizedLogin(login).includes("@")) return [];
  const key = await keyForRecording(tx, masters);
  if (phone === null) return [loginHash(key, login)];
  return typedPhoneForms(phone).map((form) => formHash(key, form));
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
  return key === null ? null : recordedHash(tx, loginHash(key, typed));
}

/**
 * The pseudonym (`erased-login:…`) that stands for `typed` when it spells an erased patient's e-mail address or
 * phone number in any of the spellings a login attempt's username is read in (phi/spelledLogin.ts), else null:
 * for a record that would otherwise quote it as typed.
 */
export async function erasedLoginPseudonymOf(
  tx: WriteTransaction,
  masters: MasterKeys,
  typed: string,
): Promise<string | null> {
  const login = spelledLogin(typed);
  const phone = normalizedLogin(login).includes("@") ? null : typedPhone(login);
  const hash =
    phone === null ? await erasedLoginHash(tx, masters, login) : await erasedPhoneHash(tx, masters, phone);
  return hash === null ? null : erasedLoginPseudonym(hash);
}

/**
 * The hash of the account `userId` when an erased patient's record belonged to it, else null: a login attempt on
 * it names no live record, and its username is theirs. One lookup on erased_logins' primary key.
 */
export async function erasedAccountHash(
  tx: WriteTransaction,
  masters: MasterKeys,
  userId: string,
): Promise<Buffer | null> {
  const key = await keyForMatching(tx, masters);
  return key === null ? null : recordedHash(tx, formHash(key, accountForm(userId)));
}

async function recordedHash(tx: WriteTransaction, hash: Buffer): Promise<Buffer | null> {
  const { rows } = await connectionOf(tx).query({
    name: "erased-logins.match.v1",
    text: "SELECT 1 FROM erased_logins WHERE email_hash = $1",
    values: [hash],
  });
  return rows.length > 0 ? hash : null;
}

/**
 * The hash that names an erased patient's number when `phone` could be it (phi/loginPhone.ts): the whole
 * number's, the same for every spelling; else null. When it could be several erased numbers (a national
 * spelling, several countries), the one erased first. One lookup of at most six keys on erased_logins' primary key.
 */
export async function erasedPhoneHash(
  tx: WriteTransaction,
  masters: MasterKeys,
  phone: TypedPhone,
): Promise<Buffer | null> {
  const key = await keyForMatching(tx, masters);
  if (key === null) return null;
  const { rows } = await connectionOf(tx).query<{ hash: Buffer }>({
    name: "erased-logins.match-phone.v1",
    text: `SELECT coalesce(pseudonym_hash, email_hash) AS hash FROM erased_logins WHERE email_hash = ANY($1::bytea[])
            ORDER BY erased_at, email_hash LIMIT 1`,
    values: [typedPhoneForms(phone).map((form) => formHash(key, form))],
  });
  return rows[0]?.hash ?? null;
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
  await recordFormerHashes(tx, patientId, [loginHash(key, email)], replacedAt);
}

/**
 * Records `phone` as a former number of the patient, when a change of phone replaces it, so that a login typing
 * it (in any spelling) is still theirs (patientOfFormerPhone): the hashes of its forms, never the number.
 */
export async function recordFormerPhone(
  tx: WriteTransaction,
  masters: MasterKeys,
  patientId: string,
  phone: string,
  replacedAt: Date,
): Promise<void> {
  const key = await keyForRecording(tx, masters);
  const hashes = phoneForms(phone).map((form) => formHash(key, form));
  await recordFormerHashes(tx, patientId, hashes, replacedAt);
}

async function recordFormerHashes(
  tx: WriteTransaction,
  patientId: string,
  hashes: Buffer[],
  replacedAt: Date,
): Promise<void> {
  await connectionOf(tx).query({
    name: "patient-former-logins.record.v2",
    text: `INSERT INTO patient_former_logins (email_hash, patient_id, replaced_at)
           SELECT unnest($1::bytea[]), $2, $3::timestamptz
           ON CONFLICT (email_hash, patient_id) DO NOTHING`,
    values: [hashes, patientId, replacedAt.toISOString()],
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
  return key === null ? null : patientOfFormerHashes(tx, [loginHash(key, typed)]);
}

/**
 * The patient who had a number `phone` could be (phi/loginPhone.ts) before changing it, the record made first
 * when several did; null for none.
 */
export async function patientOfFormerPhone(
  tx: WriteTransaction,
  masters: MasterKeys,
  phone: TypedPhone,
): Promise<string | null> {
  const key = await keyForMatching(tx, masters);
  if (key === null) return null;
  return patientOfFormerHashes(
    tx,
    typedPhoneForms(phone).map((form) => formHash(key, form)),
  );
}

/** One lookup of the hashes on patient_former_logins' primary key. */
async function patientOfFormerHashes(tx: WriteTransaction, hashes: Buffer[]): Promise<string | null> {
  const { rows } = await connectionOf(tx).query<{ patientId: string }>({
    name: "patient-former-logins.match.v2",
    text: `SELECT p.id AS "patientId" FROM patient_former_logins f JOIN patients p ON p.id = f.patient_id
            WHERE f.email_hash = ANY($1::bytea[]) ORDER BY p.created_at, p.id LIMIT 1`,
    values: [hashes],
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

// AES-256-GCM for the two things phi/ encrypts: a personal field's JSON value under its patient's data key
// (a "sealed field", a string in the event's data) and a patient's data key under a master key (a
// "wrapped key", bytes in patient_keys). Both store iv ‖ ciphertext ‖ tag, and both bind the ciphertext to
// where it belongs with associated data, so a ciphertext moved to another field, event or patient fails to open.
import { createCipheriv, createDecipheriv, randomFillSync } from "node:crypto";
import { DataFreeError } from "../events/dataFreeError.ts";

const ALGORITHM = "aes-256-gcm";
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/** The prefix of every sealed field: the scheme and its version, so a later scheme can be told apart. */
export const SEALED_PREFIX = "enc:v1:";

/** The ciphertext does not open under this key and associated data: the wrong key, or altered bytes. */
export class CiphertextRejected extends DataFreeError {
  constructor(what: string) {
    super(
      `${what} does not decrypt: the key is not the one it was encrypted with, or the ciphertext was altered`,
    );
    this.name = "CiphertextRejected";
  }
}

/**
 * A fresh random IV for each encryption (GCM's random 96-bit IV construction), drawn from a buffer the CSPRNG
 * fills 512 IVs at a time, as node:crypto's randomUUID does: a call into it per IV cost as much as the AES-GCM
 * encryption of a field (5 µs). Each IV is handed out once; the buffer is refilled when all have been.
 */
const ivs = Buffer.alloc(IV_BYTES * 512);
let nextIvAt = ivs.length;
function freshIv(): Buffer {
  if (nextIvAt === ivs.length) {
    randomFillSync(ivs);
    nextIvAt = 0;
  }
  nextIvAt += IV_BYTES;
  return ivs.subarray(nextIvAt - IV_BYTES, nextIvAt);
}

export function encrypt(key: Buffer, plaintext: Buffer, associatedData: string): Buffer {
  // A view of the buffer: used, and copied into the result, before anything can refill it.
  const iv = freshIv();
  const cipher = createCipheriv(ALGORITHM, key, iv).setAAD(Buffer.from(associatedData, "utf8"));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, ciphertext, cipher.getAuthTag()]);
}

export function decrypt(key: Buffer, sealed: Buffer, associatedData: string, what: string): Buffer {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new CiphertextRejected(what);
  const decipher = createDecipheriv(ALGORITHM, key, sealed.subarray(0, IV_BYTES))
    .setAAD(Buffer.from(associatedData, "utf8"))
    .setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    throw new CiphertextRejected(what);
  }
}

export function isSealed(value: unknown): value is string {
  return typeof value === "string" && value.startsWith(SEALED_PREFIX);
}

/** A JSON value as the string that replaces it in the event: `enc:v1:` and base64url(iv ‖ ciphertext ‖ tag). */
export function sealValue(key: Buffer, value: unknown, associatedData: string): string {
  const plaintext = Buffer.from(JSON.stringify(value), "utf8");
  return SEALED_PREFIX + encrypt(key, plaintext, associatedData).toString("base64url");
}

export function openValue(key: Buffer, sealed: string, associatedData: string): unknown {
  const bytes = Buffer.from(sealed.slice(SEALED_PREFIX.length), "base64url");
  return JSON.parse(decrypt(key, bytes, associatedData, associatedData).toString("utf8"));
}

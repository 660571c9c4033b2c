// An erased patient's e-mail address as the platform may still hold it: an HMAC-SHA256 under the erased-login
// key (db/erasedLogins.ts), never the address, and the pseudonym a login attempt typing it is recorded under.
import { createHmac } from "node:crypto";
import { ERASED_LOGIN_PREFIX } from "../events/audit.ts";

/** The address as a login matches it against patients' e-mails: surrounding blanks ignored, in any case. */
export function normalizedLogin(typed: string): string {
  return typed.trim().toLowerCase();
}

export function loginHash(key: Buffer, typed: string): Buffer {
  return createHmac("sha256", key).update(normalizedLogin(typed)).digest();
}

/**
 * `erased-login:` and the hash's first 16 bytes in hex: the same for every attempt on the address, in any case,
 * so failed attempts on it are still counted together, and nothing in it reads as the address.
 */
export function erasedLoginPseudonym(hash: Buffer): string {
  return `${ERASED_LOGIN_PREFIX}${hash.subarray(0, 16).toString("hex")}`;
}

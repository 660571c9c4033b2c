// An erased patient's e-mail address or phone number as the platform may still hold it: an HMAC-SHA256 under the
// erased-login key (db/erasedLogins.ts), never the address or number, and the pseudonym a login attempt typing it
// is recorded under.
import { createHmac } from "node:crypto";
import { ERASED_LOGIN_PREFIX } from "../events/audit.ts";
import { type Fold, replacedInView } from "./escapedText.ts";

/**
 * The address as a login matches it against patients' e-mails: surrounding blanks ignored, in any case, and in
 * Unicode NFKC, so that one typed in full-width letters (as a Japanese input method types them, `ａｄａ＠…`) is
 * the address it spells. Patients' addresses are ASCII (events/fields.ts email), which NFKC leaves as it is: the
 * hashes recorded of them are the same as before it.
 */
export function normalizedLogin(typed: string): string {
  return typed.normalize("NFKC").trim().toLowerCase();
}

export function loginHash(key: Buffer, typed: string): Buffer {
  return formHash(key, normalizedLogin(typed));
}

/** The hash of a login's form as the platform keeps it: an address normalized, a phone number's form. */
export function formHash(key: Buffer, form: string): Buffer {
  return createHmac("sha256", key).update(form).digest();
}

/**
 * `erased-login:` and the hash's first 16 bytes in hex: the same for every attempt on the address, in any case
 * (on the number, in any spelling), so failed attempts on it are still counted together, and nothing in it reads
 * as the address or number.
 */
export function erasedLoginPseudonym(hash: Buffer): string {
  return `${ERASED_LOGIN_PREFIX}${hash.subarray(0, 16).toString("hex")}`;
}

/**
 * `text` with every spelling of the address in it as `replacement`: in any case, in any width or other
 * compatibility form of its characters (Unicode NFKC, each character on its own: `ａda＠…`), and escaped as a
 * URL or a page escapes it, wholly or in part (`ada%40example.com`, `%61da@…`, `ada&#64;…`, `ada&commat;…`,
 * phi/escapedText.ts).
 */
export function withoutAddress(text: string, address: string, replacement: string): string {
  const literal = normalizedLogin(address).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return replacedInView(text, compatibleForm, new RegExp(literal, "giu"), replacement);
}

/** Each character in NFKC; a text that NFKC leaves as it is has no character to fold. */
const compatibleForm: Fold = {
  character: (character) => character.normalize("NFKC"),
  unchanged: (text) => text.normalize("NFKC") === text,
};

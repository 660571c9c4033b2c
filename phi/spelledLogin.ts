// The login a username typed at a login spells, which the platform compares with patients' e-mail addresses and
// phone numbers: escapes decoded, characters that show nothing dropped, and an address or number taken out of
// the form it may be typed in. A spelling of a patient's address or number that it did not read as theirs
// would be kept as an unknown username, in plain text, in a history their erasure cannot reach.
import { decodedText } from "./escapedText.ts";

/**
 * Characters that show nothing (Unicode's default-ignorable code points: zero-width spaces and joiners, the soft
 * hyphen, direction marks and overrides, variation selectors, fillers; and the blank braille pattern): an address
 * typed with one reads as the address without it.
 */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\u2800]/gu;
/**
 * An address as patients' e-mails are written (events/fields.ts email: zod's rule, unanchored): the one a mail
 * form holds (`mailto:ada@…`, `Ada <ada@…>`, `"ada@…"`, a sentence's `ada@….`).
 */
const ADDRESS =
  /(?:[A-Za-z0-9_'+-]+\.)*[A-Za-z0-9_'+-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}/;
const ADDRESSES = new RegExp(ADDRESS.source, "g");
/** A number written as a URI (RFC 3966): `tel:+1-415-555-0123`. */
const TEL_URI = /^\s*tel:/i;

/**
 * The login `username` spells: with its escapes decoded (phi/escapedText.ts) and its invisible characters
 * dropped; the first address in it (in Unicode NFKC, as logins are compared: phi/erasedLoginPseudonym.ts) when it
 * holds one, else the rest without a `tel:` scheme. Fail-closed: a username that holds a patient's address among
 * other words is read as that address, and sealed with the patient's key.
 */
export function spelledLogin(username: string): string {
  const visible = decodedText(username).replace(INVISIBLE, "");
  const address = ADDRESS.exec(visible.normalize("NFKC"))?.[0];
  if (address !== undefined) return address;
  return visible.replace(TEL_URI, "");
}

/**
 * The addresses a text holds (a login attempt's reason: "unknown user ada@example.org"), read as a username is:
 * escapes decoded, invisible characters dropped, in NFKC; each once, in lower case.
 */
export function addressesIn(text: string): string[] {
  const visible = decodedText(text).replace(INVISIBLE, "").normalize("NFKC");
  return [...new Set(Array.from(visible.matchAll(ADDRESSES), ([address]) => address.toLowerCase()))];
}

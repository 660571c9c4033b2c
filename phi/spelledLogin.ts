// The login a username typed at a login spells, which the platform compares with patients' e-mail addresses and
// phone numbers: escapes decoded, characters that show nothing dropped, and an address or number taken out of
// the form it may be typed in. A spelling of a patient's address or number that it did not read as theirs
// would be kept as an unknown username, in plain text, in a history their erasure cannot reach.
import { decodedText } from "./escapedText.ts";
import { asciiDigits, type TypedPhone, typedPhone } from "./loginPhone.ts";

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

/** A text as a login is read: its escapes decoded, its invisible characters dropped, in NFKC, in lower case. */
export function readAsLogin(text: string): string {
  return decodedText(text).replace(INVISIBLE, "").normalize("NFKC").toLowerCase();
}

/**
 * The addresses a text holds (a login attempt's reason: "unknown user ada@example.org"), read as a username is:
 * escapes decoded, invisible characters dropped, in NFKC; each once, in lower case.
 */
export function addressesIn(text: string): string[] {
  const visible = decodedText(text).replace(INVISIBLE, "").normalize("NFKC");
  return [...new Set(Array.from(visible.matchAll(ADDRESSES), ([address]) => address.toLowerCase()))];
}

/**
 * A number as a text may quote it, not glued to a letter or digit: digits (any script's, read by asciiDigits),
 * a leading `+`, and between digits up to three characters that are neither letters, digits nor marks (blanks,
 * dots, dashes, brackets, but also commas and slashes: "+49,30,1234567").
 */
const NUMBER = /(?<![\p{L}\p{N}\p{M}+])\+?[0-9(](?:[^\p{L}\p{N}\p{M}]{0,3}[0-9])*\)?(?![\p{L}\p{N}\p{M}])/gu;
/** What typedPhone reads as a separator: the characters between a quoted number's digits that it does not. */
const NOT_PHONE_SPELLING = /[^\s0-9.()/\-\u2010-\u2015+]/gu;
/** Where a run of digits may hold two numbers written one after the other: "030 1234 5678, 040 9876 5432". */
const LIST_SEPARATOR = /[,;]\s*|\s{2,}/u;

/**
 * The phone numbers a text quotes (a login attempt's reason: "no account for +49 30 1234 5678"), read as a
 * username is (escapes decoded, invisible characters dropped, any script's digits), each by the rule of
 * phi/loginPhone.ts: a number quoted in a list is read alone and together with its neighbours, so that neither
 * reading hides it. Each once.
 */
export function phonesIn(text: string): TypedPhone[] {
  const visible = asciiDigits(decodedText(text).replace(INVISIBLE, ""));
  const phones = new Map<string, TypedPhone>();
  for (const [run] of visible.matchAll(NUMBER)) {
    for (const candidate of [run, ...run.split(LIST_SEPARATOR)]) {
      const phone = typedPhone(candidate.replace(NOT_PHONE_SPELLING, " "));
      if (phone !== null) phones.set(JSON.stringify(phone), phone);
    }
  }
  return [...phones.values()];
}

// A phone number typed as a login's username (phone sign-in: "+14155550123", "(415) 555-0123", "00 44 20 7946
// 0958"), and the forms under which a login attempt compares it with patients' numbers, which the platform stores
// in E.164 (`+` and 7 to 15 digits: events/fields.ts e164Phone). Pure: db/erasedLogins.ts hashes the forms, and
// db/patientWithPhone.ts compares the digits in SQL by the same rule.
import { type Fold, replacedInView } from "./escapedText.ts";

/**
 * What a username spelled as a phone number could be, read fail-closed: any patient's number that it could be
 * is treated as the one typed (sealing an attempt under the wrong patient's key loses it at their erasure;
 * leaving a patient's number in plain text would outlive it).
 *
 * A number typed with `+` or `00` is whole: it is a patient's number when their digits are the same. One typed
 * without (a national spelling, "(415) 555-0123") has no country code to compare: it is a patient's number
 * when their digits end with one of `endings` after 0 to 3 other digits (none: the country code was typed
 * without `+`; 1 to 3: a country code).
 */
export interface TypedPhone {
  /** The digits typed, without a `+`/`00` prefix; without a national trunk prefix too, as a second ending. */
  readonly endings: readonly string[];
  /** Typed with `+` or `00`: `endings` holds the whole number. */
  readonly international: boolean;
}

/**
 * The rule for a username that is a phone number, blanks around it ignored: only digits, white space, dots,
 * dashes, slashes and parentheses, after at most one leading `+`; 7 to 15 digits (E.164's range) once a
 * leading `+` or `00` and any `(0)` (a trunk prefix shown inside an international spelling) are taken off.
 * Anything else (a letter, an `@`, a second `+`) is no phone number, and kept to the other rules.
 */
const PHONE_SPELLING = /^\+?[\s0-9.()/\-\u2010-\u2015]+$/u;
const TRUNK_IN_BRACKETS = /\(\s*0\s*\)/gu;
const MIN_DIGITS = 7;
const MAX_DIGITS = 15;
/** The most digits a country code has: what may come before a national spelling's digits. */
export const MAX_COUNTRY_CODE_DIGITS = 3;
/**
 * National trunk prefixes, dialled before a national number and never part of its E.164 form: 0 (most of
 * Europe, Africa, Asia and Oceania), 06 (Hungary), 8 (Russia and its neighbours). North America's 1 is its
 * country code, which the 0 to 3 digits before an ending already allow.
 */
const TRUNK_PREFIXES = ["0", "06", "8"];

/**
 * The username as a phone number, or null when it is none by the rule above. Its digits may be any script's
 * (a Japanese input method types full-width ones, an Arabic keyboard Arabic-Indic ones): read as they are by
 * asciiDigits.
 */
export function typedPhone(username: string): TypedPhone | null {
  const spelled = asciiDigits(username).trim();
  if (!PHONE_SPELLING.test(spelled)) return null;
  const digits = spelled.replace(TRUNK_IN_BRACKETS, "").replace(/[^0-9]/g, "");
  const international = spelled.startsWith("+") || digits.startsWith("00");
  const number = !spelled.startsWith("+") && international ? digits.slice(2) : digits;
  if (number.length < MIN_DIGITS || number.length > MAX_DIGITS) return null;
  if (international) return { endings: [number], international };
  const withoutTrunk = TRUNK_PREFIXES.filter((prefix) => number.startsWith(prefix)).map((prefix) =>
    number.slice(prefix.length),
  );
  return { endings: [...new Set([number, ...withoutTrunk])], international };
}

/** A stored number's digits: E.164 without its `+` (any other character dropped as well). */
export function phoneDigits(stored: string): string {
  return stored.replace(/[^0-9]/g, "");
}

/** The form of a whole number, which names an erased number's pseudonym. */
export function wholeNumberForm(stored: string): string {
  return `tel:+${phoneDigits(stored)}`;
}

/**
 * The forms under which a patient's (E.164) number is recorded as hashes (patient_former_logins, erased_logins):
 * the whole number, and what follows a country code of 1, 2 or 3 digits (its national spelling's digits, for
 * each length a country code may have). A typed number is theirs when one of its forms (typedPhoneForms) is
 * among these: the rule TypedPhone states. None hold an `@`, so no form is ever an e-mail address's.
 */
export function phoneForms(stored: string): string[] {
  const digits = phoneDigits(stored);
  if (digits.length === 0) return [];
  const national = [1, 2, 3]
    .filter((length) => length < digits.length)
    .map((length) => `tel:national:${digits.slice(length)}`);
  return [wholeNumberForm(stored), ...national];
}

/** The forms a typed number may take among a patient's phoneForms. */
export function typedPhoneForms(phone: TypedPhone): string[] {
  if (phone.international) return phone.endings.map((ending) => `tel:+${ending}`);
  return phone.endings.flatMap((ending) => [`tel:+${ending}`, `tel:national:${ending}`]);
}

const DECIMAL_DIGIT = /^\p{Nd}$/u;
const PHONE_CHARACTER = /^[+\s0-9.()/\-\u2010-\u2015]$/u;

/**
 * `text` with each decimal digit of any script as its ASCII digit, and each character that NFKC makes a plus,
 * a digit or a separator of PHONE_SPELLING (full-width forms, superscripts) as that character; the rest as it
 * is. What a keyboard in another script sends for a number is then read as the number it is, not kept apart from
 * it (as typed, in plain text). Place for place: a character written with two UTF-16 units is two here too
 * (its second a `.`, which the rules take as a separator), so a match in the result is at the same place in
 * `text`.
 */
export function asciiDigits(text: string): string {
  let folded = "";
  for (const character of text) {
    const ascii = phoneCharacter(character);
    folded += ascii.length === character.length ? ascii : ascii.padEnd(character.length, ".");
  }
  return folded;
}

/** One character as asciiDigits reads it: a digit of any script as the ASCII one, a phone character's form. */
export function phoneCharacter(character: string): string {
  if (DECIMAL_DIGIT.test(character)) return String(digitValue(character.codePointAt(0) ?? 0));
  const compatible = character.normalize("NFKC");
  return PHONE_CHARACTER.test(compatible) ? compatible : character;
}

/**
 * A decimal digit's value: Unicode encodes each script's digits as a run of ten, 0 to 9 (a stability policy
 * of the standard), runs of several scripts sometimes adjoining (the mathematical digits).
 */
function digitValue(codePoint: number): number {
  let zero = codePoint;
  while (zero > 0 && DECIMAL_DIGIT.test(String.fromCodePoint(zero - 1))) zero -= 1;
  return (codePoint - zero) % 10;
}

/**
 * `text` with every spelling of the typed number in it (phoneSpellings), in any script's digits, escaped or
 * not (phi/escapedText.ts: "%2B49%2030…", "&#43;49…"), as `replacement`.
 */
export function withoutPhone(text: string, phone: TypedPhone, replacement: string): string {
  return replacedInView(text, phoneFold, phoneSpellings(phone), replacement);
}

/**
 * phoneCharacter on each character; a text without digits of other scripts that NFKC leaves as it is has none
 * it would change.
 */
const phoneFold: Fold = {
  character: phoneCharacter,
  unchanged: (text) => !OTHER_SCRIPT_DIGIT.test(text) && text.normalize("NFKC") === text,
};

const OTHER_SCRIPT_DIGIT = /(?![0-9])\p{Nd}/u;

/**
 * Whatever may stand between a quoted number's digits: any run of characters that are neither letters, digits
 * nor marks. Blanks, dots, dashes, slashes and brackets, but also commas ("+49,30,1234567"), underscores,
 * middle dots, minus signs, soft hyphens and invisible characters, which people and programs write numbers
 * with too. None is a digit, so each run is read in one step.
 */
const SEPARATOR = String.raw`[^\p{L}\p{N}\p{M}]*`;

/**
 * Every spelling of the typed number in a text (an identity provider's reason: "unknown user +1 (415)
 * 555-0123"), whatever its separators, with or without its country code, `+`, `00` or trunk prefix. It looks
 * for the digits every spelling of the number holds (the whole number's without a country code of up to 3
 * digits; a national spelling's own without a trunk prefix), with up to 6 digits before them taken with it
 * (a country code, a trunk prefix, `00`), whatever stands between them (SEPARATOR). Fail-closed: it may take a
 * few digits next to the number as well.
 */
export function phoneSpellings(phone: TypedPhone): RegExp {
  const cores = phone.international
    ? phone.endings.map((ending) => ending.slice(MAX_COUNTRY_CODE_DIGITS))
    : phone.endings;
  const shortest = cores.reduce((short, core) => (core.length < short.length ? core : short));
  const digits = [...shortest].join(SEPARATOR);
  return new RegExp(String.raw`(?:\+\s*)?\(?(?:[0-9]${SEPARATOR}){0,6}${digits}`, "gu");
}

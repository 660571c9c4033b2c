// Text as whoever wrote it escaped it: an identity provider's `reason` may quote a login URL-encoded
// ("ada%40example.com", from a form post or a query string) or HTML-escaped ("ada&#64;example.com", from a
// page), and an auth service may report a username so. What is matched against a patient's address or number
// is the text with those escapes decoded (its view); what is replaced is the span of the original text that
// the match was decoded from, escapes and all. One pass over the text per level of escaping, no backtracking.

/**
 * The decoded text, and for each of its UTF-16 units the span of the original it was decoded from: a unit
 * of an escape maps to the whole escape, each unit of a character written with two maps to both.
 */
export interface DecodedView {
  readonly text: string;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
}

/**
 * How many times escapes are decoded, at most: "%2540" is "%40" escaped once more, "&amp;#64;" is "&#64;".
 * Text escaped more deeply than this is not what a client or a page sends.
 */
const MAX_DEPTH = 4;

/**
 * The escapes decoded are a percent-encoded byte (`%40`; a run of them may spell one UTF-8 character), a numeric
 * character reference (`&#64;`, `&#x40;`, its `;` optional as browsers read one) and a named one (`&commat;`).
 * Each is read by hand from its `%` or `&`, at most this many significant digits or letters: one pass over the
 * text, nothing to backtrack.
 */
const MAX_HEX_DIGITS = 6;
const MAX_DECIMAL_DIGITS = 7;
const MAX_NAME_LETTERS = 10;

/**
 * The named references of the characters that spell an e-mail address or a phone number, and of `&` itself
 * (so that "&amp;#64;" is decoded to "&#64;", then "@"). HTML names thousands; none other is one of those.
 */
const NAMED: Readonly<Record<string, string>> = {
  amp: "&",
  commat: "@",
  period: ".",
  plus: "+",
  hyphen: "\u2010",
  dash: "\u2010",
  minus: "\u2212",
  lowbar: "_",
  lpar: "(",
  rpar: ")",
  sol: "/",
  comma: ",",
  colon: ":",
  nbsp: "\u00a0",
  num: "#",
  percnt: "%",
  apos: "'",
  excl: "!",
  quest: "?",
  equals: "=",
  tilde: "~",
  verbar: "|",
  dollar: "$",
  ast: "*",
  grave: "`",
  lcub: "{",
  rcub: "}",
  hat: "^",
  quot: '"',
  lt: "<",
  gt: ">",
};

/** `text` with its escapes decoded, up to MAX_DEPTH levels deep, each unit mapped to its span in `text`. */
export function decodedView(text: string): DecodedView {
  let view = identityView(text);
  for (let depth = 0; depth < MAX_DEPTH; depth += 1) {
    const decoded = decodeOnce(view.text);
    if (decoded === null) break;
    view = composed(view, decoded);
  }
  return view;
}

/** `inner`, decoded from `outer`'s text, with its spans in what `outer` was decoded from. */
function composed(outer: DecodedView, inner: DecodedView): DecodedView {
  const starts = new Int32Array(inner.text.length);
  const ends = new Int32Array(inner.text.length);
  for (let unit = 0; unit < inner.text.length; unit += 1) {
    starts[unit] = outer.starts[inner.starts[unit] as number] as number;
    ends[unit] = outer.ends[(inner.ends[unit] as number) - 1] as number;
  }
  return { text: inner.text, starts, ends };
}

/** `text` with its escapes decoded: a username as the login it spells. */
export function decodedText(text: string): string {
  return decodedView(text).text;
}

/**
 * How a text is read before it is matched: each non-ASCII character as `character` makes it (one character or
 * several, never a part of one), unless `unchanged` tells, at less cost, that none would change.
 */
export interface Fold {
  character(character: string): string;
  unchanged(text: string): boolean;
}

/**
 * `text` with every match of `pattern` (global) in its decoded view, each non-ASCII character of it as `fold`
 * makes it, replaced by `replacement`: the whole span each match was decoded from, never half an escape or half
 * a character.
 */
export function replacedInView(text: string, fold: Fold, pattern: RegExp, replacement: string): string {
  const view = foldedView(decodedView(text), fold.character, fold.unchanged);
  let kept = "";
  let from = 0;
  for (const match of view.text.matchAll(pattern)) {
    if (match[0].length === 0) continue;
    const start = view.starts[match.index] as number;
    const end = view.ends[match.index + match[0].length - 1] as number;
    // A match beginning inside the span the previous one took (both decoded from one escape) is in it already.
    if (start < from) {
      from = Math.max(from, end);
      continue;
    }
    kept += text.slice(from, start) + replacement;
    from = end;
  }
  return kept + text.slice(from);
}

/**
 * The view with each non-ASCII character as `fold` makes it, each unit of what it makes mapped to that
 * character's span. `fold` is called once for each distinct character, and not at all for a view that
 * `unchanged` says it leaves as it is.
 */
function foldedView(
  view: DecodedView,
  fold: (character: string) => string,
  unchanged: (text: string) => boolean,
): DecodedView {
  const { text } = view;
  if (ASCII.test(text) || unchanged(text)) return view;
  // Each distinct character folded once, by its code point: a text is mostly a few characters many times.
  const folds = new Map<number, string>();
  let folded = "";
  let starts: Int32Array = new Int32Array(text.length);
  let ends: Int32Array = new Int32Array(text.length);
  let length = 0;
  let kept = 0;
  for (let at = 0; at < text.length; ) {
    const codePoint = text.codePointAt(at) as number;
    const width = codePoint > 0xffff ? 2 : 1;
    let made = width;
    if (codePoint >= 0x80) {
      let form = folds.get(codePoint);
      if (form === undefined) {
        form = fold(text.slice(at, at + width));
        folds.set(codePoint, form);
      }
      if (form.length !== width || form !== text.slice(at, at + width)) {
        folded += text.slice(kept, at) + form;
        kept = at + width;
        made = form.length;
      }
    }
    if (length + made > starts.length) {
      [starts, ends] = [grown(starts, length + made), grown(ends, length + made)];
    }
    // Each unit made maps to the character's span: the two of a character written with two, both.
    const start = view.starts[at] as number;
    const end = view.ends[at + width - 1] as number;
    for (let unit = 0; unit < made; unit += 1, length += 1) {
      starts[length] = start;
      ends[length] = end;
    }
    at += width;
  }
  folded += text.slice(kept);
  return { text: folded, starts: starts.subarray(0, length), ends: ends.subarray(0, length) };
}

/** A copy of `array`, with room for at least `needed` elements. */
function grown(array: Int32Array, needed: number): Int32Array {
  const larger = new Int32Array(Math.max(needed, array.length * 2));
  larger.set(array);
  return larger;
}

const ASCII = /^[\0-\x7f]*$/;

/** Each unit its own span, but the two of a character written with two, which map to both. */
function identityView(text: string): DecodedView {
  const starts = new Int32Array(text.length);
  const ends = new Int32Array(text.length);
  for (let at = 0; at < text.length; at += 1) {
    const pair = isHighSurrogate(text.charCodeAt(at)) && isLowSurrogate(text.charCodeAt(at + 1));
    starts[at] = at;
    ends[at] = pair ? at + 2 : at + 1;
    if (pair) {
      starts[at + 1] = at;
      ends[at + 1] = at + 2;
      at += 1;
    }
  }
  return { text, starts, ends };
}

/**
 * One level of escapes decoded, each unit's span in `text`; null when there is none. An escape that decodes to
 * nothing valid is kept as it is. Decoded text is never longer than what it was decoded from.
 */
function decodeOnce(text: string): { text: string; starts: Int32Array; ends: Int32Array } | null {
  const pieces: string[] = [];
  const starts = new Int32Array(text.length);
  const ends = new Int32Array(text.length);
  let length = 0;
  let kept = 0;
  for (let at = 0; at < text.length; ) {
    const unit = text.charCodeAt(at);
    const decoded =
      unit === 0x25 ? percentEncoded(text, at) : unit === 0x26 ? characterReference(text, at) : undefined;
    if (decoded === undefined) {
      starts[length] = at;
      ends[length] = at + 1;
      length += 1;
      at += 1;
      continue;
    }
    pieces.push(text.slice(kept, at), decoded.text);
    for (let made = 0; made < decoded.text.length; made += 1, length += 1) {
      starts[length] = at;
      ends[length] = decoded.end;
    }
    at = decoded.end;
    kept = at;
  }
  if (pieces.length === 0) return null;
  pieces.push(text.slice(kept));
  return { text: pieces.join(""), starts: starts.subarray(0, length), ends: ends.subarray(0, length) };
}

/** The character reference at `at` (its `&`) and where it ends; undefined for none. */
function characterReference(text: string, at: number): { text: string; end: number } | undefined {
  if (text.charCodeAt(at + 1) !== 0x23) return namedReference(text, at);
  const hex = (text.charCodeAt(at + 2) | 0x20) === 0x78;
  const radix = hex ? 16 : 10;
  let end = at + (hex ? 3 : 2);
  while (text.charCodeAt(end) === 0x30) end += 1;
  const first = end;
  const most = hex ? MAX_HEX_DIGITS : MAX_DECIMAL_DIGITS;
  while (end - first < most && digitValue(text.charCodeAt(end), radix) >= 0) end += 1;
  // No digit at all: "&#;", "&#x".
  if (end === at + (hex ? 3 : 2)) return undefined;
  const character = codePointText(first === end ? 0 : Number.parseInt(text.slice(first, end), radix));
  if (text.charCodeAt(end) === 0x3b) end += 1;
  return character === undefined ? undefined : { text: character, end };
}

/** The named reference at `at` (`&commat;`, its `;` required) and where it ends; undefined for none. */
function namedReference(text: string, at: number): { text: string; end: number } | undefined {
  let end = at + 1;
  while (end - at - 1 < MAX_NAME_LETTERS && isLetter(text.charCodeAt(end))) end += 1;
  if (text.charCodeAt(end) !== 0x3b) return undefined;
  const character = NAMED[text.slice(at + 1, end).toLowerCase()];
  return character === undefined ? undefined : { text: character, end: end + 1 };
}

const isLetter = (unit: number) => (unit | 0x20) >= 0x61 && (unit | 0x20) <= 0x7a;

/**
 * The percent-encoded character at `at` (`%40`, or `%EF%BC%A0` for a full-width `＠`, a run of bytes spelling
 * one UTF-8 character) and where it ends; undefined when its bytes begin no valid character.
 */
function percentEncoded(text: string, at: number): { text: string; end: number } | undefined {
  const lead = byteAt(text, at);
  const length = utf8Length(lead);
  if (length === 0) return undefined;
  // The lead byte's own bits, then six of each continuation byte's.
  let codePoint = length === 1 ? lead : lead & (0xff >> (length + 1));
  for (let next = 1; next < length; next += 1) {
    const byte = byteAt(text, at + 3 * next);
    if (byte < 0x80 || byte > 0xbf) return undefined;
    codePoint = (codePoint << 6) | (byte & 0x3f);
  }
  // An overlong spelling (more bytes than the code point needs) is no valid character.
  if (codePoint < (SMALLEST_OF_LENGTH[length - 1] as number)) return undefined;
  const character = codePointText(codePoint);
  return character === undefined ? undefined : { text: character, end: at + 3 * length };
}

/** The smallest code point UTF-8 spells with 1, 2, 3 and 4 bytes. */
const SMALLEST_OF_LENGTH = [0, 0x80, 0x800, 0x10000];

/** The byte percent-encoded at `at`, or -1 for none. */
function byteAt(text: string, at: number): number {
  if (text.charCodeAt(at) !== 0x25) return -1;
  const high = digitValue(text.charCodeAt(at + 1), 16);
  const low = digitValue(text.charCodeAt(at + 2), 16);
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

/** The value of a decimal or hexadecimal digit's UTF-16 unit, or -1 for another. */
function digitValue(unit: number, radix: 10 | 16): number {
  if (unit >= 0x30 && unit <= 0x39) return unit - 0x30;
  const lower = unit | 0x20;
  return radix === 16 && lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** How many bytes a UTF-8 character beginning with `lead` has; 0 for a byte no character begins with. */
function utf8Length(lead: number): number {
  if (lead < 0) return 0;
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead < 0xe0) return 2;
  if (lead >= 0xe0 && lead < 0xf0) return 3;
  if (lead >= 0xf0 && lead < 0xf5) return 4;
  return 0;
}

/** The character at a code point, or undefined for none (NUL, a surrogate, past U+10FFFF). */
function codePointText(codePoint: number): string | undefined {
  if (codePoint === 0 || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff))
    return undefined;
  return String.fromCodePoint(codePoint);
}

const isHighSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
const isLowSurrogate = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;

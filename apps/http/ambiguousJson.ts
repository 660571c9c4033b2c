// A JSON body that means one thing to one reader and another to the next is refused rather than read one way.
//
// JSON allows an object to name a member twice and leaves the meaning open (RFC 8259 §4): JSON.parse keeps the
// last value, other parsers the first. A body like {"userId": "<own>", "userId": "<another>"} then means one
// thing to a gateway or an audit log that reads it and another to the service.
//
// JSON's numbers are decimals of any length (§6), which JSON.parse rounds to the nearest 64-bit float: a
// `durationMinutes` of 480.00000000000001 reads as 480, within a maximum of 480 it is over, and 4.9999999999999999
// as 5, a whole number it is not. A validator after the parse sees only the rounded value, the record keeps it,
// and the answer names another number than the one sent. A number is taken when the shortest decimal that
// JavaScript writes for the float it reads as is the same decimal as written (0.1, 1e2 and 100.0 are; 2^53 + 1,
// a twentieth significant digit, 1e-400 are not; 1e400, Infinity, is refused as not finite by the field).

export interface Ambiguity {
  /** The path to the member or item (`["insuranceInfo", "provider"]`, array items by index). */
  path: Array<string | number>;
  message: string;
}

/**
 * The first member name that an object of `text` repeats, or number that it writes more precisely than a 64-bit
 * float holds, whichever comes first; undefined when there is none. Names are compared as JSON.parse reads them
 * (`"a"` and `"\u0061"` are the same name). Text that is not JSON gives some answer or none, never an error: the
 * parser that follows refuses it.
 */
export function ambiguousMember(text: string): Ambiguity | undefined {
  // One frame per open object or array: an object's names so far and the one being read, an array's index.
  const frames: Array<{ names: Set<string>; name: string } | { index: number }> = [];
  let expectingName = false;
  for (let at = 0; at < text.length; at++) {
    const char = text.charCodeAt(at);
    if (char === QUOTE) {
      const end = stringEnd(text, at);
      if (end === -1) return undefined;
      const frame = frames.at(-1);
      if (expectingName && frame !== undefined && "names" in frame) {
        const name = parsedName(text.slice(at, end + 1));
        if (name === undefined) return undefined;
        frame.name = name;
        if (frame.names.has(name))
          return { path: frames.map(pathSegment), message: "is given more than once" };
        frame.names.add(name);
        expectingName = false;
      }
      at = end;
    } else if (char === OPEN_BRACE) {
      frames.push({ names: new Set(), name: "" });
      expectingName = true;
    } else if (char === OPEN_BRACKET) {
      frames.push({ index: 0 });
      expectingName = false;
    } else if (char === CLOSE_BRACE || char === CLOSE_BRACKET) {
      frames.pop();
      expectingName = false;
    } else if (char === COMMA) {
      const frame = frames.at(-1);
      if (frame !== undefined && "index" in frame) frame.index++;
      expectingName = frame !== undefined && "names" in frame;
    } else if (char === MINUS || (char >= DIGIT_0 && char <= DIGIT_9)) {
      const end = numberEnd(text, at);
      if (!readAsWritten(text.slice(at, end))) {
        return {
          path: frames.map(pathSegment),
          message: "has more digits than a 64-bit number holds: it would be read as another number",
        };
      }
      at = end - 1;
    }
  }
  return undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** The index of the quote that closes the string opening at `start`, or -1 when none does. */
function stringEnd(text: string, start: number): number {
  let at = start + 1;
  for (;;) {
    const quote = text.indexOf('"', at);
    if (quote === -1) return -1;
    // Escaped when an odd number of backslashes run up to it.
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    at = quote + 1;
  }
}

function parsedName(token: string): string | undefined {
  // Most names hold no escape: the text between the quotes is the name.
  if (!token.includes("\\")) return token.slice(1, -1);
  try {
    return JSON.parse(token) as string;
  } catch {
    return undefined;
  }
}

const pathSegment = (frame: { name: string } | { index: number }): string | number =>
  "name" in frame ? frame.name : frame.index;

/** The index after the number token starting at `start` (its sign, digits, point and exponent). */
function numberEnd(text: string, start: number): number {
  let at = start + 1;
  while (at < text.length && /[0-9.eE+-]/.test(text[at] as string)) at++;
  return at;
}

/**
 * Whether JSON.parse reads `token` as the number it writes: the same decimal as the float's shortest spelling. One
 * past the largest float reads as Infinity, which every number field refuses as not finite, by that name.
 */
function readAsWritten(token: string): boolean {
  const written = decimalOf(token);
  const value = Number(token);
  // Not a JSON number, or past the largest float: the parser, or the field's schema, refuses it.
  if (written === undefined || !Number.isFinite(value)) return true;
  const read = decimalOf(String(value));
  return (
    read !== undefined &&
    read.negative === written.negative &&
    read.digits === written.digits &&
    read.exponent === written.exponent
  );
}

/**
 * A decimal number's canonical parts: its significant digits without leading or trailing zeros, the power of ten
 * they are scaled by, and its sign (none for zero). Undefined for text that is no decimal ("Infinity", "1.e5").
 */
function decimalOf(text: string): { negative: boolean; digits: string; exponent: number } | undefined {
  const parts = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (parts === null) return undefined;
  const [, sign = "", whole = "", fraction = "", exponent = "0"] = parts;
  const all = `${whole}${fraction}`;
  // Found by index: `/0+$/` tries every start of a run of zeros, and a body's number of 60,000 zeros and a 1
  // took seconds of the process's one thread.
  let first = 0;
  while (all[first] === "0") first++;
  let end = all.length;
  while (end > first && all[end - 1] === "0") end--;
  if (first === end) return { negative: false, digits: "", exponent: 0 };
  // The trailing zeros stripped scale the digits up; the fraction's places scale them down.
  return {
    negative: sign === "-",
    digits: all.slice(first, end),
    exponent: Number(exponent) - fraction.length + (all.length - end),
  };
}

// JSON allows an object to name a member twice and leaves the meaning open (RFC 8259 §4): JSON.parse keeps the
// last value, other parsers the first. A body like {"userId": "<own>", "userId": "<another>"} then means one
// thing to a gateway or an audit log that reads it and another to the service, so the API refuses it.

/**
 * Where the first member name that an object of `text` repeats sits, as the path to it
 * (`["insuranceInfo", "provider"]`, array items by index); undefined when no object repeats a name.
 * Names are compared as JSON.parse reads them (`"a"` and `"\u0061"` are the same name). Text that is not
 * JSON gives some answer or none, never an error: the parser that follows refuses it.
 */
export function repeatedMember(text: string): Array<string | number> | undefined {
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
        if (frame.names.has(name)) return frames.map(pathSegment);
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

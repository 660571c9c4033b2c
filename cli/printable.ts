// Text a command prints that it did not write itself (a record's header, an error a consumer stored, a name read
// from a topic) is shown escaped where it could act on the operator's terminal rather than be read on it.

/**
 * Control characters (C0, DEL, C1: an escape sequence can clear the screen, retitle the window or hide what
 * follows), the line and paragraph separators, and the bidirectional formatting characters (which reorder
 * what is shown, as in "Trojan Source").
 */
const UNPRINTABLE = /[\p{Cc}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

/** `text` with each such character written as its escape, `\u001b`: visible, and inert. */
export function printable(text: string): string {
  return text.replace(
    UNPRINTABLE,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

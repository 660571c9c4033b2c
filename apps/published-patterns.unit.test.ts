// Every pattern the documents publish (/openapi.json and /asyncapi.json) means the same in every regex dialect
// a client team's tools run it in, not only in ECMA-262: no shorthand classes. `\d` is any Unicode digit in
// Python and .NET ('+1٤١٥٥٥٥٢٦٧١' matched the published phone pattern there, and a generator such as
// Hypothesis drew such numbers for most of its phones, each a 400), and `\s` is another set of characters in
// each of Python, RE2 and ECMA-262 (U+FEFF, U+001C-U+001F, U+0085, U+3000). Digits and white space are listed.
// Nor do they name a surrogate, which Hypothesis (Schemathesis's generator) refuses to draw around: the free-text
// patterns list the characters they allow (events/fields.ts anyCharacterBut).
import { describe, expect, it } from "vitest";
import type { Database } from "../db/client.ts";
import { testPlatform } from "../test/tokens.ts";

// Building the app touches no database.
const app = testPlatform({} as Database);

/** Each `pattern` of a document, with where it is. */
function patternsOf(value: unknown, at = ""): Array<{ at: string; pattern: string }> {
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key === "pattern" && typeof inner === "string"
      ? [{ at, pattern: inner }]
      : patternsOf(inner, `${at}/${key}`),
  );
}

/** A shorthand class escape (`\d`, `\S`, `\w`, `\b`, ...), not an escaped backslash before a letter. */
const SHORTHAND = /(?<!\\)(?:\\\\)*\\[dDsSwWbB]/;

describe("the published patterns", () => {
  for (const path of ["/openapi.json", "/asyncapi.json"]) {
    it(`${path}: list their digits and white space, which \\d and \\s do alike in no two dialects`, async () => {
      const document = await (await app.request(path)).json();
      const patterns = patternsOf(document);
      expect(patterns.length).toBeGreaterThan(10);
      expect(patterns.filter(({ pattern }) => SHORTHAND.test(pattern))).toEqual([]);
    });

    it(`${path}: name no surrogate, so that Hypothesis can draw from them, and still refuse an unpaired one`, async () => {
      const document = await (await app.request(path)).json();
      const patterns = patternsOf(document);
      // A class naming a surrogate code unit, even to exclude it, is one Hypothesis will not draw from.
      const surrogate = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}|[\uD800-\uDFFF]/u;
      expect(patterns.filter(({ pattern }) => surrogate.test(pattern))).toEqual([]);
      // The free-text patterns: a character of any plane, not an unpaired surrogate, not U+0000.
      const freeText = patterns.filter(({ pattern }) => pattern.includes(String.fromCodePoint(0x10ffff)));
      expect(freeText.length).toBeGreaterThan(2);
      for (const { at, pattern } of freeText) {
        const published = new RegExp(pattern, "u");
        expect(published.test("Zoë 😀 名前"), at).toBe(true);
        for (const unstorable of ["Zo\uD800ë", "Zoë\uDC00", "Zo\u0000ë"]) {
          expect(published.test(unstorable), `${at}: ${JSON.stringify(unstorable)}`).toBe(false);
        }
      }
    });

    it(`${path}: end at the end of the input, where Python's, .NET's and PCRE's $ also take a final line break`, async () => {
      const document = await (await app.request(path)).json();
      const patterns = patternsOf(document);
      // Every anchor is a final one, followed by the lookahead that leaves no line break after it.
      const unescaped = (pattern: string) => pattern.replace(/\\./g, "");
      const looseEnds = patterns.filter(({ pattern }) => {
        const anchors = unescaped(pattern).split("$").length - 1;
        return anchors > 1 || (anchors === 1 && !unescaped(pattern).endsWith("$(?!)"));
      });
      expect(looseEnds).toEqual([]);
      expect(patterns.filter(({ pattern }) => pattern.endsWith("$(?!\\n)")).length).toBeGreaterThan(10);
    });
  }
});

// A request's free text may not be made of only the invisible characters above U+FFFF (tag characters, variation
// selectors from U+E0100, musical formatting, ...), as the server refuses it (events/fields.ts REQUEST_BLANK); the
// events' schemas keep the rule they were written under, so /asyncapi.json still takes such an event's text.
describe("the published free-text patterns", () => {
  const invisibleAboveBmp = ["\u{E0041}\u{E0064}\u{E0061}", "\u{E0100}", "\u{1D173}\u{1D17A}", "\u{13430}"];
  const freeTextOf = async (path: string) =>
    patternsOf(await (await app.request(path)).json()).filter(({ pattern }) =>
      pattern.includes(String.fromCodePoint(0x10ffff)),
    );

  it("of every request in /openapi.json refuse a text of only invisible characters above U+FFFF", async () => {
    const requests = (await freeTextOf("/openapi.json")).filter(
      ({ at, pattern }) => /\/requestBody\//.test(at) && !new RegExp(pattern, "u").test(""),
    );
    expect(requests.length).toBeGreaterThan(40);
    for (const { at, pattern } of requests) {
      const published = new RegExp(pattern, "u");
      for (const blank of invisibleAboveBmp) expect(published.test(blank), `${at}: ${blank}`).toBe(false);
      expect(published.test("Ana\u{E0001}"), at).toBe(true);
    }
  });

  it("of the events in /asyncapi.json take it still, as events written before hold it", async () => {
    const events = (await freeTextOf("/asyncapi.json")).filter(
      ({ pattern }) => !new RegExp(pattern, "u").test(""),
    );
    expect(events.length).toBeGreaterThan(10);
    for (const { at, pattern } of events) {
      for (const written of invisibleAboveBmp) expect(new RegExp(pattern, "u").test(written), at).toBe(true);
    }
  });
});

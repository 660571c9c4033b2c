// The date and instant fields check exactly what the documents publish (the published pattern and the
// checker agree on every day of years at the edges: no year 0000, leap years of every rule, 9999), and named
// values keep every name they are sent or refuse it.

import { describe, expect, it } from "vitest";
import { z } from "zod";
import { storedInstantText } from "../db/storedInstant.ts";
import { loginAttemptReportSchema } from "./audit.ts";
import {
  anyCharacterBut,
  identifyingName,
  isoDate,
  line,
  metrics,
  storedTime,
  text,
  utcTimestamp,
} from "./fields.ts";
import { forRequests } from "./requestRules.ts";

/** `schema` as a request is held to it. */
const asRequest = (schema: z.ZodType) => {
  const request = forRequests(schema);
  if (request === undefined) throw new Error("not held to a tightened rule");
  return request;
};

const pattern = (schema: z.ZodType, flags = "") =>
  new RegExp((z.toJSONSchema(schema) as { pattern: string }).pattern, flags);
const years = [0, 1, 4, 100, 400, 1600, 1900, 2000, 2023, 2024, 9996, 9999];
const candidates = years.flatMap((year) =>
  Array.from({ length: 12 * 32 }, (_, index) => {
    const month = Math.floor(index / 32) + 1;
    const day = index % 32;
    return `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
  }),
);

describe("field schemas", () => {
  it("accept exactly what their published pattern does, and never year 0000, which Postgres refuses", () => {
    const datePattern = pattern(isoDate);
    const requestTimestamp = asRequest(utcTimestamp);
    for (const timestamp of [utcTimestamp, requestTimestamp]) {
      const timestampPattern = pattern(timestamp);
      for (const date of candidates) {
        expect(isoDate.safeParse(date).success, date).toBe(datePattern.test(date));
        const instant = `${date}T23:59:59.5Z`;
        expect(timestamp.safeParse(instant).success, instant).toBe(timestampPattern.test(instant));
      }
      expect(timestamp.safeParse("0000-06-01T00:00:00Z").success).toBe(false);
    }
    // Eleven years of 0001-9999, six of them leap years (4, 400, 1600, 2000, 2024, 9996; not 100, 1900).
    expect(candidates.filter((date) => isoDate.safeParse(date).success)).toHaveLength(11 * 365 + 6);
    expect(isoDate.safeParse("0000-01-01").error?.issues.map((issue) => issue.message)).toEqual([
      "must be in the years 0001 to 9999 (there is no year 0)",
    ]);
    // A request's to the millisecond at most, as the pattern says: a finer instant would be stored cut, not as
    // sent. A millisecond written with more digits, zeros after the third (Python's isoformat: `.123000`), loses
    // nothing. An event's of any precision, as the first events were written.
    const taken = [".1", ".12", ".123", ".1230", ".123000", ".120000", ".000000000", ".123000000"];
    const refused = [".1234", ".123001", ".123456", ".123456789", ".1230000000", ".000000001"];
    for (const fraction of ["", ...taken, ...refused]) {
      const instant = `2026-12-04T10:00:00${fraction}Z`;
      expect(requestTimestamp.safeParse(instant).success, instant).toBe(!refused.includes(fraction));
      expect(pattern(requestTimestamp).test(instant), instant).toBe(!refused.includes(fraction));
      expect(utcTimestamp.safeParse(instant).success, instant).toBe(true);
      expect(pattern(utcTimestamp).test(instant), instant).toBe(true);
    }
    expect(
      requestTimestamp.safeParse("2026-12-04T10:00:00.123456Z").error?.issues.map((issue) => issue.message),
    ).toEqual([
      "must not be more precise than milliseconds (the digits after the third of the fraction must be 0)",
    ]);
    expect(
      requestTimestamp
        .safeParse("2026-12-04T10:00:00.1230000000Z")
        .error?.issues.map((issue) => issue.message),
    ).toEqual(["must not be more precise than nanoseconds (at most 9 digits after the seconds' point)"]);
    expect(isoDate.safeParse("1900-02-29").error?.issues).toHaveLength(1);
  });

  it("publish a stored time as it is answered: three fraction digits on a millisecond, six otherwise", () => {
    const storedPattern = pattern(storedTime);
    // Microseconds since the epoch, as Postgres holds a time, and the one text each is answered as.
    const answered: Array<[bigint, string]> = [
      [1_796_378_400_123_456n, "2026-12-04T10:00:00.123456Z"],
      [1_796_378_400_123_450n, "2026-12-04T10:00:00.123450Z"],
      [1_796_378_400_123_000n, "2026-12-04T10:00:00.123Z"],
      [1_796_378_400_000_001n, "2026-12-04T10:00:00.000001Z"],
      [1_796_378_400_000_000n, "2026-12-04T10:00:00.000Z"],
      [-62_135_596_800_000_000n, "0001-01-01T00:00:00.000Z"],
      [253_402_300_799_999_999n, "9999-12-31T23:59:59.999999Z"],
    ];
    for (const [microseconds, text] of answered) {
      expect(storedInstantText(String(microseconds))).toBe(text);
      expect(storedTime.safeParse(text).success, text).toBe(true);
      expect(storedPattern.test(text), text).toBe(true);
    }
    // One spelling per instant: no other length of fraction, no offset, no year 0000.
    for (const text of [
      "2026-12-04T10:00:00Z",
      "2026-12-04T10:00:00.1Z",
      "2026-12-04T10:00:00.1234Z",
      "2026-12-04T10:00:00.123456789Z",
      "2026-12-04T10:00:00.123+00:00",
      "0000-12-04T10:00:00.123Z",
    ]) {
      expect(storedTime.safeParse(text).success, text).toBe(false);
      expect(storedPattern.test(text), text).toBe(false);
    }
    // A time no RFC 3339 text names, as Postgres reads `infinity` or the years outside 0001 to 9999: none.
    for (const microseconds of ["Infinity", "-Infinity", "-62135596800000001", "253402300800000000"])
      expect(storedInstantText(microseconds), microseconds).toBeNull();
  });

  it("refuse a __proto__ name in named values by name, where zod would drop it from what is stored and sent", () => {
    const parsed = metrics.safeParse(JSON.parse('{"__proto__": 0.5, "auc": 0.9}'));
    expect(parsed.error?.issues.map((issue) => [issue.path, issue.message])).toEqual([
      [["__proto__"], "is not a name this API accepts"],
    ]);
    expect(metrics.parse({ auc: 0.9, "f1.macro": 0.8 })).toEqual({ auc: 0.9, "f1.macro": 0.8 });
  });

  // Each shows nothing where a name is displayed: white space, control characters, zero-width and bidirectional
  // controls, the Braille blank, Hangul fillers, soft hyphens, variation selectors.
  const BLANKS = [
    "",
    " ",
    "\t\n",
    "\u0012",
    "\u001b\u0007\u007f",
    "\u0085\u009f",
    " \u0001\n",
    "\u00a0\u3000\ufeff",
    "\u200b",
    "\u200d",
    "\u2060",
    "\u2800",
    "\u180e",
    "\u202e",
    "\u061c",
    "\u00ad",
    "\u3164",
    "\u115f\u1160",
    "\ufe0f",
    "\uffa0",
    " \u200b\u200c\u200e ",
  ];
  const SHOWN = [
    "Ana",
    "\u200bAna",
    "Ana\u202e",
    "O\u2019Brien",
    "\u674e",
    "\u0623\u062d\u0645\u062f",
    "\u{1F600}",
    "x\u0301",
    "-",
  ];

  it("refuse a request's free text that shows nothing, and accept what shows something, as its published pattern does", () => {
    const name = asRequest(text(100));
    const published = pattern(name, "u");
    for (const blank of BLANKS) {
      expect(
        name.safeParse(blank).error?.issues.map((issue) => issue.message),
        JSON.stringify(blank),
      ).toEqual(["must not be blank"]);
      expect(published.test(blank), JSON.stringify(blank)).toBe(false);
    }
    for (const shown of SHOWN) {
      expect(name.safeParse(shown).success, JSON.stringify(shown)).toBe(true);
      expect(published.test(shown), JSON.stringify(shown)).toBe(true);
    }
  });

  // Invisible characters of the planes above the first: tag characters (a flag's letters), variation selectors from
  // U+E0100, musical formatting, Egyptian hieroglyph and shorthand format controls, the Kaithi number signs, and the
  // code points U+E0000-U+E0FFF reserved as default-ignorable, assigned or not.
  const BLANKS_ABOVE_BMP = [
    "\u{E0001}",
    "\u{E0041}\u{E0064}\u{E0061}",
    "\u{E0020}\u{E007F}",
    "\u{E0100}",
    "\u{E01EF}",
    "\u{E0000}\u{E0FFF}",
    "\u{1D173}\u{1D17A}",
    "\u{110BD}",
    "\u{110CD}",
    "\u{13430}\u{1343F}",
    "\u{1BCA0}\u{1BCA3}",
    " \u{E0001}\u200b\u{1D175}\n",
  ];
  // The interlinear annotation controls, which most renderers show as nothing, alone and with a blank.
  const ANNOTATION_CONTROLS = ["\uFFF9", "\uFFFA\uFFFB", " \uFFFB"];
  // Beside them, what shows: a flag written with tags, a letter with a variation selector, the neighbours of each range.
  const SHOWN_ABOVE_BMP = [
    "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
    "Ana\u{E0001}",
    "\u{E0100}x",
    "\u{10000}",
    "\u{10FFFF}",
    "\u{1D172}",
    "\u{1D17B}",
    "\u{110BC}",
    "\u{1342F}",
    "\u{13440}",
    "\u{1BC9F}",
    "\u{E1000}",
    "\u{DFFFF}",
  ];

  it("refuse a request's free text of only invisible characters above U+FFFF as blank, as its published pattern does", () => {
    for (const [name, schema] of Object.entries({
      text: text(100),
      line: line(100),
      identifyingName: identifyingName(100),
      "a line refusing more characters": line(100, String.raw`\u002F`),
      described: line(100).describe("a first name").nullable(),
    })) {
      const request = asRequest(schema instanceof z.ZodNullable ? schema.unwrap() : schema);
      const published = pattern(request, "u");
      for (const blank of [
        ...BLANKS_ABOVE_BMP.filter((value) => !value.includes("\n")),
        // and the Basic Multilingual Plane's, as the events' rule refuses them
        ...["", " ", "\u200b\u2060", "\u2800", "\u3164"],
        // and the interlinear annotation controls, which the events' rule takes
        ...ANNOTATION_CONTROLS,
      ]) {
        expect(
          request.safeParse(blank).error?.issues.map((issue) => issue.message),
          `${name} ${JSON.stringify(blank)}`,
        ).toContain("must not be blank");
        expect(published.test(blank), `${name} ${JSON.stringify(blank)}`).toBe(false);
      }
      for (const shown of SHOWN_ABOVE_BMP) {
        expect(request.safeParse(shown).success, `${name} ${JSON.stringify(shown)}`).toBe(true);
        expect(published.test(shown), `${name} ${JSON.stringify(shown)}`).toBe(true);
      }
    }
    // What is held to no tightened rule is left as it is.
    expect(forRequests(z.string())).toBeUndefined();
    expect(forRequests(isoDate)).toBeUndefined();
  });

  it("check free text as its published pattern says, at every code point, in a request and in an event", () => {
    for (const schema of [asRequest(text(100)), text(100), asRequest(line(100)), line(100)]) {
      const published = pattern(schema, "u");
      const disagreeing: string[] = [];
      for (let codePoint = 1; codePoint <= 0x10ffff; codePoint++) {
        if (codePoint >= 0xd800 && codePoint <= 0xdfff) continue;
        const value = String.fromCodePoint(codePoint);
        if (schema.safeParse(value).success !== published.test(value))
          disagreeing.push(codePoint.toString(16));
      }
      expect(disagreeing).toEqual([]);
    }
    const published = pattern(asRequest(text(100)), "u");
    // The request's rule refuses every format and default-ignorable code point above U+FFFF, as Unicode lists them.
    const invisible = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/u;
    for (let codePoint = 0x10000; codePoint <= 0x10ffff; codePoint++) {
      const value = String.fromCodePoint(codePoint);
      if (invisible.test(value)) expect(published.test(value), codePoint.toString(16)).toBe(false);
    }
  });

  it("keep the events' rule, the first events', so that an event written before with such a name stays readable", () => {
    const ONLY_WHITE_SPACE = ["", " ", "\t\n", "\u00a0\u3000\ufeff", "\u2028"];
    for (const schema of [text(100), line(100)]) {
      const published = pattern(schema, "u");
      for (const written of [
        ...BLANKS.filter((value) => !ONLY_WHITE_SPACE.includes(value)),
        ...BLANKS_ABOVE_BMP,
        ...ANNOTATION_CONTROLS,
        // Over lines, with control characters, with bidirectional controls: what names were before they were one line.
        "Ada\nLovelace",
        "Hi\r\nBcc: eve@example.org",
        "\u001b[31mred",
        "invoice\u202Efdp.exe",
      ]) {
        expect(schema.safeParse(written).success, JSON.stringify(written)).toBe(true);
        expect(published.test(written), JSON.stringify(written)).toBe(true);
      }
      for (const blank of ONLY_WHITE_SPACE) {
        expect(schema.safeParse(blank).success, JSON.stringify(blank)).toBe(false);
        expect(published.test(blank), JSON.stringify(blank)).toBe(false);
      }
    }
  });

  it("publish a class that names the planes above the first in literal characters, never a surrogate", () => {
    const excluded = `\\u0041-\\u0043${String.fromCodePoint(0x1d173)}-${String.fromCodePoint(0x1d17a)}${String.fromCodePoint(0xe0001)}`;
    expect(anyCharacterBut(excluded)).toBe(
      `[\\u0001-\\u0040\\u0044-\\uD7FF\\uE000-\\uFFFF${String.fromCodePoint(0x10000)}-${String.fromCodePoint(0x1d172)}` +
        `${String.fromCodePoint(0x1d17b)}-${String.fromCodePoint(0xe0000)}${String.fromCodePoint(0xe0002)}-${String.fromCodePoint(0x10ffff)}]`,
    );
    expect(() => anyCharacterBut("\\u{E0001}")).toThrow("not a list of \\uXXXX escapes");
  });

  it("refuse a username posing as an erased patient's pseudonym behind invisible characters", () => {
    const attempt = { userId: null, method: "PASSWORD", success: false, reason: "bad password" };
    for (const username of [
      "erased-login:x",
      "\u200berased-login:x",
      " \u2060ERASED-Login:x",
      "\u00ad\u2800erased-login:",
      // Above U+FFFF: a tag character, a musical formatting character, an Egyptian hieroglyph format control.
      `${String.fromCodePoint(0xe0020)}erased-login:x`,
      `${String.fromCodePoint(0x1d173)}${String.fromCodePoint(0x13430)}Erased-Login:x`,
    ]) {
      const issues = loginAttemptReportSchema.safeParse({ ...attempt, username }).error?.issues ?? [];
      expect(
        issues.map((issue) => issue.path.join(".")),
        JSON.stringify(username),
      ).toEqual(["username"]);
    }
    for (const username of ["erased.login@example.org", "x-erased-login:y", "\u200bana@example.org"]) {
      expect(loginAttemptReportSchema.safeParse({ ...attempt, username }).success, username).toBe(true);
    }
  });

  it("refuse a request's name or title over more than one line or with control characters, as its published pattern does", () => {
    const name = asRequest(line(100));
    const published = pattern(name, "u");
    for (const broken of [
      "Ana\nBob",
      "Hi\r\nBcc: eve@example.org",
      "a\tb",
      "\u001b[31mred",
      "x\u0085",
      "a\u2028b",
      "a\u2029",
      "a\u007f",
    ]) {
      expect(
        name.safeParse(broken).error?.issues.map((issue) => issue.message),
        JSON.stringify(broken),
      ).toEqual(["must be one line, without control characters"]);
      expect(published.test(broken), JSON.stringify(broken)).toBe(false);
    }
    // A right-to-left override makes "invoice\u202Efdp.exe" show as "invoiceexe.pdf"; isolates and
    // embeddings reorder what follows them too.
    for (const reordering of [
      "invoice\u202Efdp.exe",
      "a\u202Ab",
      "a\u202Bb",
      "a\u202Cb",
      "a\u202Db",
      "\u2066x",
      "x\u2067y",
      "x\u2068",
      "Ana\u2069",
    ]) {
      expect(
        name.safeParse(reordering).error?.issues.map((issue) => issue.message),
        JSON.stringify(reordering),
      ).toEqual(["must not contain bidirectional controls (U+202A-U+202E, U+2066-U+2069)"]);
      expect(published.test(reordering), JSON.stringify(reordering)).toBe(false);
    }
    // Right-to-left names, the marks that reorder nothing, and joiners (emoji sequences, Persian's ZWNJ) stay.
    for (const shown of [
      "\u0645\u062D\u0645\u062F",
      "\u05E9\u05E8\u05D4 Cohen",
      "Ana\u200E",
      "\u05E9\u200F.pdf",
      "\u{1F468}\u200D\u{1F469}\u200D\u{1F467}",
      "\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645",
    ]) {
      expect(name.safeParse(shown).success, JSON.stringify(shown)).toBe(true);
      expect(published.test(shown), JSON.stringify(shown)).toBe(true);
    }
    expect(name.safeParse("a\u0000b").error?.issues.map((issue) => issue.message)).toEqual([
      "must not contain U+0000 or an unpaired surrogate",
    ]);
    for (const blank of BLANKS.filter((value) => !/[\t\n]/.test(value))) {
      expect(name.safeParse(blank).success, JSON.stringify(blank)).toBe(false);
      expect(published.test(blank), JSON.stringify(blank)).toBe(false);
    }
    const withoutBidiControls = SHOWN.filter((shown) => !/[\u202A-\u202E\u2066-\u2069]/u.test(shown));
    for (const shown of [...withoutBidiControls, "Ana Mar\u00eda", "\u00a0Ana\u00a0"]) {
      expect(name.safeParse(shown).success, JSON.stringify(shown)).toBe(true);
      expect(published.test(shown), JSON.stringify(shown)).toBe(true);
    }
  });
});

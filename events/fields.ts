// The small field schemas that every event module shares (ids, dates, contact details), so that "a patient id"
// or "a timestamp" is validated the same way in every event type.
import { z } from "zod";
import { type Instant, MAX_FRACTION_DIGITS, NO_YEAR_ZERO, readInstant, TOO_PRECISE } from "./instant.ts";
import { type RequestRule, tightenedInRequests } from "./requestRules.ts";

/**
 * A rule the first events were written without, and a request is held to: in an event a check that takes every
 * value, recorded with the checks a request runs in its place (events/requestRules.ts).
 */
function onlyInRequests(inRequests: RequestRule) {
  return tightenedInRequests(
    z.refine<string>(() => true),
    inRequests,
  );
}

const UUID_PATTERN =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/;

/**
 * An RFC 9562 UUID in its canonical spelling, lower case: every id the platform generates (patients,
 * appointments, events, ...). One spelling only, because an id is also a record key, a hash chain and the
 * name of a patient's data key: "A0EE…" and "a0ee…" would be two patients to Kafka and to the key store.
 * The HTTP boundary lower-cases what clients send (apps/http/ids.ts); an event never accepts another case.
 */
export const uuid = z
  .stringFormat("uuid", UUID_PATTERN, { error: "must be a UUID in lower case" })
  .meta({ pattern: UUID_PATTERN.source });

/**
 * Dates of years 0001 to 9999, as zod's own patterns write them but without a year 0000: the Gregorian calendar
 * goes from 1 BC to AD 1, and Postgres refuses "0000-01-01" as a date or a timestamp. Published as they are
 * checked, so a client that follows the document never sends one.
 */
const YEAR = String.raw`(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})`;
const LEAP_DAY = String.raw`(?:[0-9][0-9][2468][048]|[0-9][0-9][13579][26]|[0-9][0-9]0[48]|(?:[2468][048]|[13579][26]|0[48])00)-02-29`;
const MONTH_DAY = String.raw`(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))`;
const DATE = `(?:${LEAP_DAY}|${YEAR}-${MONTH_DAY})`;
const DATE_PATTERN = new RegExp(`^${DATE}$`);
const TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]";
/** A fraction that names a millisecond: up to three digits, or more whose digits after the third are zeros. */
const MILLISECOND_FRACTION = String.raw`(?:\.(?:[0-9]{1,3}|[0-9]{3}0{1,${MAX_FRACTION_DIGITS - 3}}))`;
const TIMESTAMP_PATTERN = new RegExp(`^${DATE}T${TIME}${MILLISECOND_FRACTION}?Z$`);
/** An event's instant: a fraction of any length, as the first events were written (zod's `z.iso.datetime()`). */
const ANY_FRACTION_TIMESTAMP_PATTERN = new RegExp(String.raw`^${DATE}T${TIME}(?:\.[0-9]+)?Z$`);
const OFFSET_TIMESTAMP_PATTERN = new RegExp(
  String.raw`^${DATE}T${TIME}(?:\.[0-9]{1,${MAX_FRACTION_DIGITS}})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$`,
);
// zod checks the rest (its pattern differs from these only in year 0000); these are what the documents publish.
// Published patterns spell out their digits and white space: `\d` and `\s` mean other characters in Python, .NET
// and RE2 than in ECMA-262 (any Unicode digit; no U+FEFF, or only ASCII), so a client's tools would read them
// otherwise (apps/published-patterns.unit.test.ts).

/**
 * An instant as ISO-8601 in UTC with a `Z` suffix (`2024-01-15T10:30:00Z`, offsets not allowed). A request's is to
 * the millisecond at most: JavaScript's dates hold no finer instant, and a value cut to fit would be stored and
 * answered other than it was sent; a longer fraction that names a millisecond (`.123000`, as Python's isoformat
 * writes one) loses nothing and is taken, up to nine digits as an instant's reader takes them. An event's may have
 * a fraction of any length, as the first events were written (a model's `trainedAt`, a consent's `expiresAt`, as
 * their clients sent them): a consumer reads it as the version that wrote it did.
 */
export const utcTimestamp = z.iso
  // Aborting: a value that is no instant is told so alone, not also that it lies in the future, or out of order
  // with another field (the refinements after it, here and in the objects that hold it, are not run).
  .datetime({ abort: true })
  .refine((value) => !value.startsWith("0000-"), { error: NO_YEAR_ZERO })
  .check(
    onlyInRequests({
      checks: [
        z.refine<string>((value) => fractionDigits(value).length <= MAX_FRACTION_DIGITS, {
          error: TOO_PRECISE,
          abort: true,
        }),
        z.refine<string>((value) => /^0*$/.test(fractionDigits(value).slice(3)), {
          error:
            "must not be more precise than milliseconds (the digits after the third of the fraction must be 0)",
        }),
      ],
      publishes: { events: ANY_FRACTION_TIMESTAMP_PATTERN.source, pattern: TIMESTAMP_PATTERN.source },
    }),
  )
  .meta({ pattern: ANY_FRACTION_TIMESTAMP_PATTERN.source });

/** A stored time as answered: three fraction digits when it lies on a millisecond, six when it does not. */
const STORED_TIME_PATTERN = new RegExp(String.raw`^${DATE}T${TIME}\.[0-9]{3}(?:[0-9]{3})?Z$`);

/**
 * A time the database holds, as an answer gives it (db/storedInstant.ts): UTC with `Z`, to the microsecond
 * Postgres holds, trailing zeros dropped three digits at a time: `.123Z` for a time on a millisecond (as
 * toISOString() writes it, and as every time the write path stamps is), `.123456Z` for one between, `.000Z` for
 * a whole second. Never cut: passed back as an instant (the audit API's from and to), it names the row's own time.
 */
export const storedTime = z.iso.datetime().regex(STORED_TIME_PATTERN).meta({
  pattern: STORED_TIME_PATTERN.source,
  description:
    "UTC, to the microsecond the database holds: three fraction digits on a whole millisecond (`2026-12-04T10:00:00.123Z`), six otherwise (`2026-12-04T10:00:00.123456Z`); never cut or rounded.",
});

/** The digits after the seconds' point of a date-time zod has checked; none if it has no fraction. */
function fractionDigits(dateTime: string): string {
  return /\.([0-9]+)/.exec(dateTime)?.[1] ?? "";
}

/**
 * An instant with its offset, as a query or a command names one (`2024-01-15T10:30:00+01:00`, `…Z`, to the
 * nanosecond at most), read by the one reader every command uses too (events/instant.ts), which says what is
 * wrong, into the Instant it names (a Date would cut what is finer than a millisecond). Its pattern is
 * published with it: `format: date-time` alone lets a client send what RFC 3339 allows and zod does not read
 * (a lower-case `t` or `z`, a leap second), or what a lax validator takes (`+0530`).
 */
export const instantWithOffset = z.iso
  .datetime({ offset: true, abort: true, error: (issue) => instantProblem(issue.input) })
  .refine((value) => readInstant(value).problem === undefined, {
    error: (issue) => instantProblem(issue.input),
    abort: true,
  })
  .transform((value): Instant => readInstant(value).instant as Instant)
  .meta({ pattern: OFFSET_TIMESTAMP_PATTERN.source });

/**
 * The one rule of an instant with its offset that its pattern cannot state (short of listing every hour and
 * minute): for the description of each parameter that takes one.
 */
export const OFFSET_WITHIN_YEARS =
  "An offset that carries a time on 0001-01-01 or 9999-12-31 out of the years 0001 to 9999 in UTC is refused.";

function instantProblem(input: unknown): string {
  return typeof input === "string"
    ? (readInstant(input).problem ?? "must be an RFC 3339 time with its offset")
    : "must be an RFC 3339 time with its offset";
}

/** A calendar date `YYYY-MM-DD` that exists (no 2023-02-29, no April 31st, no year 0000). */
export const isoDate = z.iso
  .date({ abort: true })
  .refine((value) => !value.startsWith("0000-"), { error: NO_YEAR_ZERO })
  .meta({ pattern: DATE_PATTERN.source });

/**
 * A date that has already begun somewhere on Earth. Compared against "today" in UTC+14, the earliest time
 * zone, so that a baby registered just after midnight in Kiribati is not rejected by a server running on UTC.
 */
export const pastOrPresentDate = isoDate
  .refine((value) => value <= todayInEarliestTimeZone(), { error: "must not be in the future" })
  .meta({
    description: "Not in the future (today counts as in UTC+14, the earliest time zone).",
    "x-not-after": "today",
  });

/** How far ahead of this server's clock a reported instant may be and still count as now: another machine's skew. */
export const CLOCK_SKEW_MS = 60_000;

/**
 * An instant that has happened: a measurement, a training run or a processing result reported by another
 * service. Checked against the clock when the request is read (a retry stays valid: the past stays past); up to
 * CLOCK_SKEW_MS ahead is taken for the reporting machine's clock running fast. Not part of the events' own
 * schemas, which a consumer must accept whatever its own clock says.
 */
export const pastOrPresentInstant = utcTimestamp
  .refine((value) => Date.parse(value) <= Date.now() + CLOCK_SKEW_MS, { error: "must not be in the future" })
  .meta({
    description: "Not in the future (up to a minute ahead of the server's clock is taken as clock skew).",
    "x-not-after": "now",
  });

function todayInEarliestTimeZone(): string {
  const fourteenHoursMs = 14 * 60 * 60 * 1000;
  return new Date(Date.now() + fourteenHoursMs).toISOString().slice(0, 10);
}

/**
 * The events' rule of an address's length: none, as the first events were written. A request's: at most 254
 * characters, the longest address SMTP carries (RFC 5321's 256-octet path less its angle brackets); an unbounded
 * one would also outgrow the B-tree entry of the index that finds a patient by e-mail.
 */
const ADDRESS_OF_ANY_LENGTH = onlyInRequests({ checks: [z.maxLength(254)] });

/**
 * Checked by this pattern (zod's), stricter than RFC 5322: published with it, so clients can check first. At most
 * 254 characters in a request (ADDRESS_OF_ANY_LENGTH).
 */
export const email = z
  .email()
  .check(ADDRESS_OF_ANY_LENGTH)
  .meta({ pattern: z.regexes.email.source, example: "ada@example.org" });

/** A domain label as DNS holds one: 1 to 63 letters, digits and hyphens, with no hyphen first or last. */
const DOMAIN_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/**
 * `email`'s pattern held to what mail can be delivered to (RFC 5321 §4.5.3.1): at most 64 characters before the
 * `@`, and domain labels DNS can hold (zod's pattern takes `a@example-.org` and a label of any length).
 */
const DELIVERABLE_EMAIL = new RegExp(
  String.raw`^(?=[^@]{1,64}@)(?:[A-Za-z0-9_'+\-]+\.)*[A-Za-z0-9_'+\-]*[A-Za-z0-9_+-]@(?:${DOMAIN_LABEL}\.)+[A-Za-z]{2,63}$`,
);
const afterEmailChecks = { when: (payload: { issues: readonly unknown[] }) => payload.issues.length === 0 };

/**
 * An address a request may give: `email`, and one mail can be delivered to. Only requests are held to it: the
 * events keep `email`, so a history written before stays readable.
 */
export const deliverableEmail = email
  .refine((address) => address.indexOf("@") <= 64, {
    error: "must have at most 64 characters before the @",
    ...afterEmailChecks,
  })
  .refine((address) => DELIVERABLE_EMAIL.test(address), {
    error: "must have a domain whose labels are at most 63 characters, none starting or ending with a hyphen",
    ...afterEmailChecks,
  })
  .meta({ pattern: DELIVERABLE_EMAIL.source, example: "ada@example.org" });

/**
 * A host name: labels of letters, digits and hyphens joined by single dots, the last one starting with a letter
 * (a name, not an IPv4 address, which URL parsers read in several spellings: `https://999` is 0.0.3.231).
 */
const HOST_NAME = String.raw`(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?`;
/** A port, 1 to 65535, without leading zeros (one spelling; port 0 is no port a connection can reach). */
const PORT = String.raw`(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))`;

/**
 * The decimal spellings of 1 to `max`, without leading zeros, as a regular expression's source (an alternation to
 * put in a group): a published pattern that says the bound exactly, as PORT does, where a count of digits alone
 * would take values past it (`[0-9]{0,18}` up to 9999999999999999999, past a bigint's 9223372036854775807).
 */
export function positiveIntegerUpTo(max: bigint): string {
  const digits = max.toString();
  const range = (from: number, to: number) => (from === to ? `${from}` : `[${from}-${to}]`);
  const rest = (count: number) => (count === 0 ? "" : count === 1 ? "[0-9]" : `[0-9]{${count}}`);
  const shorter = digits.length > 1 ? [`[1-9][0-9]{0,${digits.length - 2}}`] : [];
  const sameLength = [...digits].flatMap((digit, at) => {
    const lowest = at === 0 ? 1 : 0;
    const below = Number(digit) - 1;
    return below < lowest
      ? []
      : [`${digits.slice(0, at)}${range(lowest, below)}${rest(digits.length - at - 1)}`];
  });
  return [...shorter, ...sameLength, digits].join("|");
}

/** The longest address browsers and CDNs reliably carry. */
const WEB_ADDRESS_MAX_LENGTH = 2048;

/**
 * An absolute URL of one of `schemes`. A request's is in the one spelling every URL parser reads alike:
 * `scheme://host`, an optional port, then a path, query or fragment of visible ASCII (what is not,
 * percent-encoded), at most 2,048 characters. No credentials (`user:pass@`), no backslash or white space, no
 * `https:/\host` or `https:host` that WHATWG parsers repair into another host than a stricter reader sees.
 * Published with this pattern, and checked by it (and by a URL parser, which also refuses an IDNA label, `xn--…`,
 * that is not valid punycode). An event's is what the first events were written under: a URL a WHATWG parser
 * reads, of one of `schemes` (zod's `z.url()`); whoever follows a link from an event checks it as a request's.
 */
export function webAddress(schemes: readonly [string, ...string[]], example: string) {
  const pattern = new RegExp(
    String.raw`^(?:${schemes.join("|")})://${HOST_NAME}${PORT}?(?:[/?#][\x21-\x5b\x5d-\x7e]*)?$`,
  );
  const spelled = schemes.map((scheme) => `${scheme}://`).join(", ");
  const parsed = z.url({ protocol: new RegExp(`^(?:${schemes.join("|")})$`) });
  const eventsRule = tightenedInRequests(
    z.refine<string>((value) => parsed.safeParse(value).success, { error: `must be a URL (${spelled})` }),
    {
      checks: [
        z.maxLength(WEB_ADDRESS_MAX_LENGTH),
        z.refine<string>((value) => pattern.test(value) && URL.canParse(value), {
          error: `must be a URL (${spelled}) of a host name, without credentials or white space`,
        }),
      ],
      publishes: {
        pattern: pattern.source,
        // The one refusal the pattern cannot state: an IDNA label is checked by decoding it.
        ...(schemes.includes("https")
          ? {
              description:
                "For `https`, a host label written `xn--…` (in any case) must be one a URL parser decodes: valid punycode of a valid internationalized label (IDNA), as the WHATWG URL standard reads it.",
            }
          : {}),
      },
    },
  );
  return z.string().check(eventsRule).meta({ format: "uri", example });
}

/** A phone number in E.164 form (`+14155552671`): one spelling per number, dialable from anywhere. */
export const e164Phone = z
  .e164()
  .meta({ pattern: String.raw`^\+[1-9][0-9]{6,14}$`, example: "+14155552671" });

/**
 * U+0000, which Postgres text and jsonb cannot hold, and half of a UTF-16 surrogate pair, which is no
 * character and has no UTF-8 form (the driver would silently store U+FFFD, and jsonb refuses its escape).
 * With the `u` flag a well-formed pair is one code point outside this class.
 */
const UNSTORABLE = /[\0\uD800-\uDFFF]/u;

/** ECMA-262's `\s`, listed (white space and line terminators), as the inside of a character class. */
export const WHITE_SPACE = String.raw`\u0009-\u000D\u0020\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF`;

/**
 * What shows nothing, as the inside of a regular expression's character class: white space (WHITE_SPACE), the
 * other C0 and C1 control characters (an escape, a bell: a text message of only "\u0012" would arrive empty),
 * the Unicode default-ignorable code points of the Basic Multilingual Plane (soft hyphen, zero-width spaces and
 * joiners, bidirectional controls, variation selectors, Hangul fillers, ...), and U+2800, the blank Braille
 * pattern. A name of only these would look empty wherever it is shown. With ANNOTATION_CONTROLS and
 * BLANK_ABOVE_BMP, what a request's free text may not be made of only (REQUEST_BLANK).
 */
const BLANK = String.raw`${WHITE_SPACE}\u0001-\u0008\u000E-\u001F\u007F-\u009F\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u2800\u3164\uFE00-\uFE0F\uFFA0\uFFF0-\uFFF8`;

/** Code points above the Basic Multilingual Plane as a class lists them: literal characters. */
const literally = (from: number, to = from) =>
  from === to ? String.fromCodePoint(from) : `${String.fromCodePoint(from)}-${String.fromCodePoint(to)}`;

/**
 * What shows nothing above the Basic Multilingual Plane, as the inside of a character class: its default-ignorable
 * and format code points, the Kaithi number signs (U+110BD, U+110CD), the Egyptian hieroglyph format controls
 * (U+13430-U+1343F), the shorthand format controls (U+1BCA0-U+1BCA3), the musical formatting characters
 * (U+1D173-U+1D17A), and U+E0000-U+E0FFF: the tag characters, the variation selectors from U+E0100 and the
 * unassigned code points reserved as default-ignorable (a later Unicode's invisible characters). Written as literal
 * characters, as anyCharacterBut writes the planes above the first: `\u{...}` is ECMA-262's alone.
 */
const BLANK_ABOVE_BMP = [
  literally(0x110bd),
  literally(0x110cd),
  literally(0x13430, 0x1343f),
  literally(0x1bca0, 0x1bca3),
  literally(0x1d173, 0x1d17a),
  literally(0xe0000, 0xe0fff),
].join("");

/**
 * The interlinear annotation controls (U+FFF9-U+FFFB): format characters that are not default-ignorable, but that
 * a renderer which does not lay out annotations (all but a few) shows as nothing.
 */
const ANNOTATION_CONTROLS = String.raw`\uFFF9-\uFFFB`;

/**
 * What a request's free text may not be made of only: BLANK, ANNOTATION_CONTROLS and BLANK_ABOVE_BMP. An event's
 * may not be only WHITE_SPACE, the rule the first events were written under: one written before, a name of
 * zero-width spaces or tag characters say, stays readable.
 */
export const REQUEST_BLANK = `${BLANK}${ANNOTATION_CONTROLS}${BLANK_ABOVE_BMP}`;

const NOT_BLANK_IN_REQUESTS = z.regex(new RegExp(`[^${REQUEST_BLANK}]`, "u"), "must not be blank");

/** A character of the planes above the first, as `excluded` may list it: literally. */
const ABOVE_BMP = String.raw`[\u{10000}-\u{10FFFF}]`;
/** One code point or range of `excluded`: `\uXXXX` escapes, or literal characters above U+FFFF. */
const EXCLUDED_RANGE = new RegExp(
  String.raw`(?:\\u([0-9A-Fa-f]{4})|(${ABOVE_BMP}))(?:-(?:\\u([0-9A-Fa-f]{4})|(${ABOVE_BMP})))?`,
  "guy",
);

/**
 * A character class, for a published pattern, of every character but U+0000 and those `excluded` lists (the
 * inside of a class: `\uXXXX` escapes and `\uXXXX-\uXXXX` ranges of the Basic Multilingual Plane, literal
 * characters and ranges of them above it). No unpaired surrogate matches it, and the class names none: the
 * plane's ranges are `\uXXXX` escapes with the surrogates left out, and the planes above are ranges between
 * literal characters (U+10000 to U+10FFFF, less what is excluded there). ECMA-262 with the `u` flag (as JSON
 * Schema validators run patterns), Python's `re`, Java and PCRE read it alike; a class that names the
 * surrogates, even to exclude them, is one Hypothesis (Schemathesis's generator) refuses to draw from
 * (IncompatibleWithAlphabet).
 */
export function anyCharacterBut(excluded = ""): string {
  const ranges: Array<[number, number]> = [
    [0x0000, 0x0000],
    [0xd800, 0xdfff],
  ];
  const codePoint = (escaped: string | undefined, literal: string | undefined) =>
    escaped !== undefined ? Number.parseInt(escaped, 16) : literal?.codePointAt(0);
  for (const match of excluded.matchAll(EXCLUDED_RANGE)) {
    const from = codePoint(match[1], match[2]) as number;
    ranges.push([from, codePoint(match[3], match[4]) ?? from]);
  }
  if (excluded.replace(EXCLUDED_RANGE, "") !== "") {
    throw new Error(`not a list of \\uXXXX escapes, characters above U+FFFF and ranges of them: ${excluded}`);
  }
  ranges.sort(([a], [b]) => a - b);
  const allowed: Array<[number, number]> = [];
  let next = 0;
  for (const [from, to] of ranges) {
    if (from > next) allowed.push([next, from - 1]);
    next = Math.max(next, to + 1);
  }
  if (next <= 0x10ffff) allowed.push([next, 0x10ffff]);
  return `[${allowed.flatMap(splitAtPlaneOne).map(classRange).join("")}]`;
}

/** A range as two: its part in the Basic Multilingual Plane, written in escapes, and its part above, literally. */
function splitAtPlaneOne([from, to]: [number, number]): Array<[number, number]> {
  return from <= 0xffff && to > 0xffff
    ? [
        [from, 0xffff],
        [0x10000, to],
      ]
    : [[from, to]];
}

function classRange([from, to]: [number, number]): string {
  const member = (codePoint: number) =>
    codePoint > 0xffff
      ? String.fromCodePoint(codePoint)
      : `\\u${codePoint.toString(16).toUpperCase().padStart(4, "0")}`;
  return from === to ? member(from) : `${member(from)}-${member(to)}`;
}

/**
 * A free-text pattern (ECMA-262 with the `u` flag, as JSON Schema validators run it): something not `blank`, and
 * none of `excluded` (the inside of a class, as anyCharacterBut takes it), U+0000 or an unpaired surrogate anywhere.
 */
function freeTextPattern(excluded: string, blank: string): string {
  return `^${anyCharacterBut(excluded)}*${anyCharacterBut(`${blank}${excluded}`)}${anyCharacterBut(excluded)}*$`;
}

/**
 * The events' rule of free text that says something (not only white space, as the first events were written),
 * with `inRequests`, the checks a request is held to in its place beside REQUEST_BLANK's, and the characters
 * both refuse anywhere beside U+0000 (`excluded`; a request's, `excludedInRequests` too): a check, with the
 * pattern the events publish with it.
 */
function notBlank(excluded: string, inRequests: z.core.$ZodCheck<string>[] = [], excludedInRequests = "") {
  const events = freeTextPattern(excluded, WHITE_SPACE);
  const check = tightenedInRequests(z.regex(new RegExp(`[^${WHITE_SPACE}]`, "u"), "must not be blank"), {
    checks: [NOT_BLANK_IN_REQUESTS, ...inRequests],
    publishes: { events, pattern: freeTextPattern(`${excludedInRequests}${excluded}`, REQUEST_BLANK) },
  });
  return { check, pattern: events };
}

/** What `text` checks beside its length and `storable`. */
const TEXT = notBlank("");

/**
 * What `storable` alone accepts, as a JSON Schema pattern: any text, blank too, without U+0000 or an unpaired
 * surrogate. For a schema that publishes no pattern of its own (a filter's value), so that the refusal is stated.
 */
export const STORABLE_PATTERN = `^${anyCharacterBut()}*$`;

/** Refuses strings the database cannot store as sent: every free-form string a request carries goes through it. */
export function storable<T extends z.ZodType<string | null>>(schema: T): T {
  return schema.refine((value) => value === null || !UNSTORABLE.test(value), {
    error: "must not contain U+0000 or an unpaired surrogate",
  });
}

/**
 * Free text that says something, bounded so one event stays small: in a request, not only invisible characters
 * (REQUEST_BLANK); in an event, not only white space (notBlank).
 */
export function text(maxLength: number) {
  return storable(z.string().max(maxLength).check(TEXT.check)).meta({ pattern: TEXT.pattern });
}

/**
 * What a one-line value may not hold, beside U+0000 (which `storable` refuses on its own): the C0 and C1 control
 * characters (line breaks, tabs, escapes, ...) and the Unicode line and paragraph separators.
 */
const LINE_CONTROL = String.raw`\u0001-\u001F\u007F-\u009F\u2028\u2029`;
const ONE_LINE = new RegExp(`^[^${LINE_CONTROL}]*$`, "u");

/**
 * The bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they reorder what follows
 * them where it is shown, so `invoice\u202Efdp.exe` reads "invoiceexe.pdf" (the "Trojan Source" characters).
 * Right-to-left names need none of them, and the marks (U+200E, U+200F, U+061C) and joiners, which reorder
 * nothing, stay allowed.
 */
const BIDI_CONTROL = String.raw`\u202A-\u202E\u2066-\u2069`;
const NO_BIDI_CONTROL = new RegExp(`^[^${BIDI_CONTROL}]*$`, "u");
const CONTROL = `${LINE_CONTROL}${BIDI_CONTROL}`;

/** What `line` checks beside its length and `storable`, for each set of characters refused beside: made once. */
const LINES = new Map<string, ReturnType<typeof notBlank>>();

function lineRule(alsoExcluded: string) {
  let rule = LINES.get(alsoExcluded);
  if (rule === undefined) {
    rule = notBlank(
      alsoExcluded,
      [
        z.regex(ONE_LINE, "must be one line, without control characters"),
        z.regex(NO_BIDI_CONTROL, "must not contain bidirectional controls (U+202A-U+202E, U+2066-U+2069)"),
      ],
      CONTROL,
    );
    LINES.set(alsoExcluded, rule);
  }
  return rule;
}

/**
 * A name or a title: text that a request must give on one line, with no control characters. What it holds is
 * shown in one line (a greeting, an e-mail's subject, a list of files), where a line break, an escape sequence or
 * a bidirectional override would forge or hide what follows. Events keep the rule of `text`, which the first of
 * them were written under: whoever shows one escapes what it shows (cli/printable.ts, the console's text nodes).
 * `alsoExcluded`: characters it refuses beside, events too (the inside of a class, as anyCharacterBut takes it);
 * refused by the caller's own check, and published here.
 */
export function line(maxLength: number, alsoExcluded = "") {
  return lineOf(z.string(), maxLength, alsoExcluded);
}

/**
 * A name that identifies a record, part of a unique key (a model's name): a `line` compared as a reader sees
 * it, so taken in Unicode NFC, before its checks. "Modèle" sent with a precomposed è and with an e and a
 * combining grave accent is one name, stored and evented once in one spelling. (The unique index compares NFC
 * too, so that a row stored otherwise is no second spelling: migration 0025.) Its length is bounded as sent,
 * as the published `maxLength` says, and in NFC, as stored: a few characters grow under NFC (U+0958 is two,
 * U+FB2C three), which JSON Schema cannot state, so the description and `x-max-length-nfc` do.
 */
export function identifyingName(maxLength: number) {
  const name = lineOf(
    z.string().max(maxLength, { abort: true }).normalize("NFC"),
    maxLength,
    "",
    `must be at most ${maxLength} characters in Unicode NFC, the form it is stored in`,
  );
  return name.meta({
    ...name.meta(),
    description: `At most ${maxLength} characters as sent, and in Unicode NFC (the form it is stored and compared in; a few characters grow under NFC: U+0958 is two).`,
    "x-max-length-nfc": maxLength,
  });
}

function lineOf(base: z.ZodString, maxLength: number, alsoExcluded: string, tooLong?: string) {
  const rule = lineRule(alsoExcluded);
  return storable(base.max(maxLength, tooLong).check(rule.check)).meta({ pattern: rule.pattern });
}

/** The largest value of a Postgres `integer` column: a count that goes into one is bounded by it. */
export const INT4_MAX = 2_147_483_647;

/**
 * A machine identifier such as a template name, a rule code or a versioned tool:
 * `appointment-reminder`, `HIPAA.164.312b`, `ocr@2.3`.
 */
export const identifier = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/, "must be an identifier");

/** A SHA-256 digest in lower-case hex: one canonical spelling, so equal files have equal checksums. */
export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hexadecimal digits");

/** What a JSON number is refused for when a double cannot hold it (`1e400`, read as Infinity, which no event can carry). */
const NOT_A_DOUBLE = `must be a finite number: an IEEE 754 double, at most ${Number.MAX_VALUE} either way`;

/**
 * A number of no bound of its own (a score, a metric): a JSON number a double holds. JSON's grammar takes `1e400`,
 * which JSON.parse reads as Infinity; published as `format: double` (OpenAPI's format registry) and refused by
 * name, where zod's own message said "received Infinity" of a number the client never wrote.
 */
export const finiteNumber = z
  .number({ error: (issue) => (typeof issue.input === "number" ? NOT_A_DOUBLE : undefined) })
  .meta({
    format: "double",
    description: `A double (IEEE 754): a JSON number past ${Number.MAX_VALUE} either way is refused.`,
  });

/** A probability or confidence, both ends included. */
export const unitInterval = z.number().min(0).max(1);

/**
 * Values by name. zod skips a `__proto__` key of a record (it would set the object's prototype), so such a
 * name would vanish from what is stored and sent, silently: it is refused by name instead. The names' schema
 * is published as `propertyNames` by the OpenAPI generator too, which drops a record's key schema: a client
 * reading the document would otherwise take any name for valid, and be refused.
 */
export function namedValues<Value extends z.ZodType>(name: z.ZodType<string>, value: Value) {
  const { $schema: _, ...names } = z.toJSONSchema(name);
  return z
    .preprocess(
      (input, context) => {
        if (input !== null && typeof input === "object" && Object.hasOwn(input, "__proto__")) {
          context.addIssue({
            code: "custom",
            message: "is not a name this API accepts",
            path: ["__proto__"],
            input,
          });
        }
        return input;
      },
      z.record(name, value),
    )
    .meta({ propertyNames: names });
}

/** Named measurements such as `{ auc: 0.91, f1: 0.84 }` (zod 4 numbers are finite: JSON has no NaN). */
export const metrics = namedValues(identifier, finiteNumber);

/** The instants of `later` must not precede those of `earlier`; compared as instants, not strings. */
export function isNotBefore(later: string, earlier: string): boolean {
  return Date.parse(later) >= Date.parse(earlier);
}

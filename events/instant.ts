// The one reading of an instant that a person names (a command's --since and --until, the audit API's time
// filters): RFC 3339's date-time (§5.6), upper-case T and Z, with its offset, every field in range. JavaScript's
// Date is no judge of that: it takes hour 24 (the next day's midnight), rolls 2026-02-30 over to March 2nd, and
// guesses at a time without an offset or without seconds. RFC 3339 allows a fraction of any length: clients
// write six digits (Python's isoformat) or up to nine (Go's RFC3339Nano, Java's Instant), finer than a Date,
// which holds milliseconds and would cut them. So an instant is read to the nanosecond and kept as such; nine
// digits is as fine as any clock names, and a longer fraction is refused rather than cut. A leap second, which
// no timestamp of Postgres or JavaScript holds, is refused too.

/** An instant to the nanosecond, as RFC 3339 may name it. */
export interface Instant {
  /** Nanoseconds since 1970-01-01T00:00:00Z. */
  readonly epochNanoseconds: bigint;
}

/** What an instant's text names: the instant, or the first thing wrong with it, to say after the argument. */
export type InstantReading = { instant: Instant; problem?: never } | { instant?: never; problem: string };

export const INSTANT_EXAMPLE = "2026-01-15T00:00:00Z";
export const NO_YEAR_ZERO = "must be in the years 0001 to 9999 (there is no year 0)";
/** The most fraction digits an instant may have: nanoseconds. */
export const MAX_FRACTION_DIGITS = 9;
export const TOO_PRECISE = `must not be more precise than nanoseconds (at most ${MAX_FRACTION_DIGITS} digits after the seconds' point)`;

const NANOSECONDS_PER_MILLISECOND = 1_000_000n;
const NANOSECONDS_PER_MICROSECOND = 1_000n;

const SHAPE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;
const MONTH_NAMES = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];

/** Reads `text` as an RFC 3339 date-time with its offset, or says what is wrong with it. */
export function readInstant(text: string): InstantReading {
  const parts = SHAPE.exec(text);
  if (!parts) {
    // `2026-12-07T10:00:00+01:00` in a URL's query, its `+` not written %2B, reaches the route as a space.
    const plusAsSpace = SHAPE.test(text.replace(/ (\d{2}:\d{2})$/, "+$1"));
    return {
      problem:
        `must be an RFC 3339 time with its offset, YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm), e.g. ${INSTANT_EXAMPLE}` +
        (plusAsSpace
          ? "; its offset begins with a space: a + in a URL's query is read as one, write it %2B"
          : ""),
    };
  }
  const [year, month, day, hour, minute, second] = parts.slice(1, 7).map(Number) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const [fraction = "", sign, offsetHours = "00", offsetMinutes = "00"] = parts.slice(7);
  if (year === 0) return { problem: NO_YEAR_ZERO };
  if (month < 1 || month > 12) return { problem: `has no month ${parts[2]} (01 to 12)` };
  const days = daysIn(year, month);
  if (day < 1 || day > days)
    return {
      problem: `has no day ${parts[3]} in ${MONTH_NAMES[month - 1]} ${parts[1]} (01 to ${days})`,
    };
  if (hour > 23)
    return { problem: `has no hour ${parts[4]} (00 to 23; midnight is 00:00:00 of the next day)` };
  if (minute > 59) return { problem: `has no minute ${parts[5]} (00 to 59)` };
  if (second > 59) return { problem: `has no second ${parts[6]} (00 to 59; a leap second cannot be named)` };
  if (fraction.length > MAX_FRACTION_DIGITS) return { problem: TOO_PRECISE };
  if (Number(offsetHours) > 23 || Number(offsetMinutes) > 59)
    return { problem: `has no offset ${sign}${offsetHours}:${offsetMinutes} (-23:59 to +23:59)` };
  const offsetMs = (sign === "-" ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000;
  const local = Date.UTC(
    year,
    month - 1,
    day,
    hour,
    minute,
    second,
    Number(fraction.padEnd(3, "0").slice(0, 3)),
  );
  // Date.UTC reads years 0-99 as 1900-1999: set the year itself.
  const instant = new Date(local);
  instant.setUTCFullYear(year, month - 1, day);
  instant.setTime(instant.getTime() - offsetMs);
  // Its offset may carry it out of the years 0001-9999 in UTC, where no stored time of the project lies.
  if (instant.getUTCFullYear() < 1 || instant.getUTCFullYear() > 9999) return { problem: NO_YEAR_ZERO };
  const belowMilliseconds = BigInt(fraction.padEnd(MAX_FRACTION_DIGITS, "0").slice(3));
  return {
    instant: {
      epochNanoseconds: BigInt(instant.getTime()) * NANOSECONDS_PER_MILLISECOND + belowMilliseconds,
    },
  };
}

/** The instant `microseconds` after the epoch names: a timestamp as Postgres holds it (db/storedInstant.ts). */
export function instantOfMicroseconds(microseconds: bigint): Instant {
  return { epochNanoseconds: microseconds * NANOSECONDS_PER_MICROSECOND };
}

/** The instant a Date holds. */
export function instantOf(date: Date): Instant {
  return { epochNanoseconds: BigInt(date.getTime()) * NANOSECONDS_PER_MILLISECOND };
}

/** The instant as a Date, if it lies on a millisecond; null if a Date would cut it. */
export function millisecondDate(instant: Instant): Date | null {
  const { milliseconds, rest } = splitAtMilliseconds(instant);
  return rest === 0n ? new Date(Number(milliseconds)) : null;
}

/**
 * The instant in UTC, with as many fraction digits as it needs in groups of three: `toISOString()`'s text for
 * one that lies on a millisecond, six digits for a microsecond, nine for a nanosecond.
 */
export function instantText(instant: Instant): string {
  const { milliseconds, rest } = splitAtMilliseconds(instant);
  const digits = rest.toString().padStart(6, "0");
  const finer = rest === 0n ? "" : rest % NANOSECONDS_PER_MICROSECOND === 0n ? digits.slice(0, 3) : digits;
  return `${utcText(milliseconds)}${finer}Z`;
}

/**
 * The instant as Postgres reads a timestamp, in UTC to the microsecond (Postgres' precision), rounded `down` or
 * `up` to one. A stored time t lies on a microsecond, so `t >= x` holds exactly when `t >= up(x)`, `t < x`
 * when `t < up(x)`, `t <= x` when `t <= down(x)` and `t > x` when `t > down(x)`: a bound rounded so selects the
 * same rows as the instant itself, which Postgres, given nine digits, would round to the nearest microsecond.
 */
export function microsecondBound(instant: Instant, rounded: "down" | "up"): string {
  const { milliseconds, rest } = splitAtMilliseconds(instant);
  const microseconds = rest / NANOSECONDS_PER_MICROSECOND;
  const up = rounded === "up" && rest % NANOSECONDS_PER_MICROSECOND !== 0n;
  // 1000 µs carries into the next millisecond.
  const next = up ? microseconds + 1n : microseconds;
  const carry = next === 1000n;
  const inMillisecond = carry ? 0n : next;
  return `${utcText(carry ? milliseconds + 1n : milliseconds)}${inMillisecond.toString().padStart(3, "0")}Z`;
}

/** Whole milliseconds since the epoch (rounded down) and the nanoseconds after them (0 to 999,999). */
function splitAtMilliseconds(instant: Instant): { milliseconds: bigint; rest: bigint } {
  const rest =
    ((instant.epochNanoseconds % NANOSECONDS_PER_MILLISECOND) + NANOSECONDS_PER_MILLISECOND) %
    NANOSECONDS_PER_MILLISECOND;
  return { milliseconds: (instant.epochNanoseconds - rest) / NANOSECONDS_PER_MILLISECOND, rest };
}

/**
 * `YYYY-MM-DDThh:mm:ss.mmm` of a time in UTC. Written from its fields rather than by toISOString, which
 * writes the year 10000 (where a bound rounded up from the last nanosecond of 9999 lies) as `+010000`, a
 * spelling Postgres does not read.
 */
function utcText(milliseconds: bigint): string {
  const date = new Date(Number(milliseconds));
  const two = (value: number) => String(value).padStart(2, "0");
  return (
    `${String(date.getUTCFullYear()).padStart(4, "0")}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}` +
    `T${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}` +
    `.${String(date.getUTCMilliseconds()).padStart(3, "0")}`
  );
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

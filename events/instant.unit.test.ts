// The one reading of a named instant: every RFC 3339 date-time with its offset and fields in range is read as
// the instant it names, to the nanosecond; anything else is refused saying what is wrong, never rolled over
// into another instant as Date would, nor cut to its milliseconds. The commands (replay, audit:verify) and the
// audit API read their times through it, and compare them with Postgres' microseconds through microsecondBound.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { replayRequest } from "../relay/replay/replayArguments.ts";
import { instantWithOffset } from "./fields.ts";
import { type Instant, instantText, microsecondBound, millisecondDate, readInstant } from "./instant.ts";

const FAR_FUTURE = new Date("9999-12-31T00:00:00Z");

/** Whether `replay` takes `text` as --since, and the instant it takes it for. */
function replayTakes(text: string): Date | "refused" {
  try {
    return replayRequest({ since: text }, FAR_FUTURE).filter.since as Date;
  } catch {
    return "refused";
  }
}

describe("readInstant", () => {
  it.each([
    ["2026-01-15T00:00:00Z", "2026-01-15T00:00:00.000Z"],
    ["2026-01-15T10:30:00+01:00", "2026-01-15T09:30:00.000Z"],
    ["2026-01-15T10:30:00-05:30", "2026-01-15T16:00:00.000Z"],
    ["2026-01-15T10:30:00-00:00", "2026-01-15T10:30:00.000Z"],
    ["2026-01-15T10:30:00.5Z", "2026-01-15T10:30:00.500Z"],
    ["2026-01-15T10:30:00.123+00:00", "2026-01-15T10:30:00.123Z"],
    ["2024-02-29T23:59:59Z", "2024-02-29T23:59:59.000Z"],
    ["2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000Z"],
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"],
    ["0099-06-30T12:00:00Z", "0099-06-30T12:00:00.000Z"],
    ["9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"],
    ["2026-12-31T23:00:00-23:59", "2027-01-01T22:59:00.000Z"],
    ["2026-12-05T10:00:00.123000+00:00", "2026-12-05T10:00:00.123Z"],
    ["2026-12-05T10:00:00.123456+00:00", "2026-12-05T10:00:00.123456Z"],
    ["2026-12-05T10:00:00.1234Z", "2026-12-05T10:00:00.123400Z"],
    ["2026-12-05T10:00:00.123456789Z", "2026-12-05T10:00:00.123456789Z"],
    ["2026-12-05T10:00:00.000000001-01:00", "2026-12-05T11:00:00.000000001Z"],
    ["1969-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59.999999999Z"],
    ["0001-01-01T00:00:00.000001Z", "0001-01-01T00:00:00.000001Z"],
    ["9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999999999Z"],
  ])("reads %s as %s", (text, expected) => {
    const { instant } = readInstant(text);
    expect(instant && instantText(instant)).toBe(expected);
  });

  it.each([
    ["hour 24", "2026-01-01T24:00:00Z", "has no hour 24 (00 to 23; midnight is 00:00:00 of the next day)"],
    ["February 30th", "2026-02-30T00:00:00Z", "has no day 30 in February 2026 (01 to 28)"],
    ["February 29th of a common year", "2023-02-29T00:00:00Z", "has no day 29 in February 2023 (01 to 28)"],
    ["February 29th of 1900", "1900-02-29T00:00:00Z", "has no day 29 in February 1900 (01 to 28)"],
    ["April 31st", "2026-04-31T00:00:00Z", "has no day 31 in April 2026 (01 to 30)"],
    ["day 00", "2026-01-00T00:00:00Z", "has no day 00 in January 2026 (01 to 31)"],
    ["month 13", "2026-13-01T00:00:00Z", "has no month 13 (01 to 12)"],
    ["month 00", "2026-00-10T00:00:00Z", "has no month 00 (01 to 12)"],
    ["minute 60", "2026-01-01T00:60:00Z", "has no minute 60 (00 to 59)"],
    ["a leap second", "2016-12-31T23:59:60Z", "has no second 60 (00 to 59; a leap second cannot be named)"],
    ["an offset of 24 hours", "2026-01-01T00:00:00+24:00", "has no offset +24:00 (-23:59 to +23:59)"],
    ["an offset minute 60", "2026-01-01T00:00:00+01:60", "has no offset +01:60 (-23:59 to +23:59)"],
    ["year 0000", "0000-01-01T00:00:00Z", "must be in the years 0001 to 9999 (there is no year 0)"],
    ["an offset into year 0", "0001-01-01T00:30:00+01:00", "must be in the years 0001 to 9999"],
    ["an offset past 9999", "9999-12-31T23:30:00-01:00", "must be in the years 0001 to 9999"],
    ["ten fraction digits", "2026-01-01T00:00:00.0000000001Z", "must not be more precise than nanoseconds"],
    ["ten zeros", "2026-01-01T00:00:00.0000000000Z", "(at most 9 digits after the seconds' point)"],
  ])("refuses %s: %s", (_, text, problem) => {
    expect(readInstant(text)).toEqual({ problem: expect.stringContaining(problem) });
  });

  it.each([
    ["no offset", "2026-01-15T00:00:00"],
    ["no seconds", "2026-01-15T00:00Z"],
    ["a date alone", "2026-01-15"],
    ["a space for T", "2026-01-15 00:00:00Z"],
    ["a lower-case t and z", "2026-01-15t00:00:00z"],
    ["an offset without its colon", "2026-01-15T00:00:00+0100"],
    ["an offset of hours alone", "2026-01-15T00:00:00+01"],
    ["a one-digit month", "2026-1-15T00:00:00Z"],
    ["a six-digit year", "+002026-01-15T00:00:00Z"],
    ["a dot without digits", "2026-01-15T00:00:00.Z"],
    ["a comma for the fraction", "2026-01-15T00:00:00,5Z"],
    ["blanks around it", " 2026-01-15T00:00:00Z "],
    ["a final line break", "2026-01-15T00:00:00Z\n"],
    ["non-ASCII digits", "٢٠٢٦-01-15T00:00:00Z"],
    ["epoch milliseconds", "1768435200000"],
    ["nothing", ""],
  ])("refuses %s (%j) as not of RFC 3339's form, with an example", (_, text) => {
    expect(readInstant(text).problem).toMatch(
      /^must be an RFC 3339 time with its offset, .* e\.g\. 2026-01-15T00:00:00Z$/,
    );
  });

  it("says, of an offset that begins with a space, that a + in a URL's query is read as one", () => {
    expect(readInstant("2026-12-07T00:00:00 01:00").problem).toMatch(
      /e\.g\. 2026-01-15T00:00:00Z; its offset begins with a space: a \+ in a URL's query is read as one, write it %2B$/,
    );
    expect(readInstant("2026-12-07T00:00:00.5 01:00").problem).toContain("write it %2B");
  });

  it("reads every instant of the years 0001-9999, to the nanosecond, written at any offset, as itself", () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date("0001-01-02T00:00:00Z"),
          max: new Date("9999-12-30T00:00:00Z"),
          noInvalidDate: true,
        }),
        fc.integer({ min: 0, max: 999_999 }),
        fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
        (date, nanoseconds, offsetMinutes) => {
          const local = new Date(date.getTime() + offsetMinutes * 60_000).toISOString().slice(0, 23);
          const sign = offsetMinutes < 0 ? "-" : "+";
          const offset = Math.abs(offsetMinutes);
          const text = `${local}${String(nanoseconds).padStart(6, "0")}${sign}${String(Math.floor(offset / 60)).padStart(2, "0")}:${String(offset % 60).padStart(2, "0")}`;
          expect(readInstant(text).instant?.epochNanoseconds).toBe(
            BigInt(date.getTime()) * 1_000_000n + BigInt(nanoseconds),
          );
        },
      ),
    );
  });

  it("takes exactly what Date's own rendering of a real day and time is, for any text of its shape", () => {
    // Any digits in the date-time's shape: the reader takes the text exactly when Date, reading it, does not
    // roll it over (its fields read back unchanged).
    const digits = (length: number) => fc.stringMatching(new RegExp(`^[0-9]{${length}}$`));
    fc.assert(
      fc.property(
        fc.tuple(digits(4), digits(2), digits(2), digits(2), digits(2), digits(2)),
        ([year, month, day, hour, minute, second]) => {
          const text = `${year}-${month}-${day}T${hour}:${minute}:${second}Z`;
          const roundTrips =
            !Number.isNaN(Date.parse(text)) && new Date(text).toISOString() === `${text.slice(0, -1)}.000Z`;
          expect(readInstant(text).instant !== undefined, text).toBe(roundTrips && year !== "0000");
        },
      ),
      { numRuns: 5_000 },
    );
  });
});

describe("every reader of a named instant", () => {
  const texts = [
    "2026-01-15T00:00:00Z",
    "2026-01-15T10:30:00.123+05:30",
    "2026-01-01T24:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T00:60:00Z",
    "2026-01-01T00:00:60Z",
    "2026-01-15T00:00Z",
    "2026-01-15T00:00:00",
    "2026-01-15T00:00:00+0100",
    "2026-01-15T00:00:00.1234Z",
    "2026-01-15T00:00:00.123000+00:00",
    "2026-01-15T00:00:00.123456+00:00",
    "2026-01-15T00:00:00.123456789Z",
    "2026-01-15T00:00:00.1234567891Z",
    "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:30:00-01:00",
  ];

  it.each(texts)(
    "audit:verify and the audit API (instantWithOffset) agree on %s, and replay --since where it lies on a millisecond",
    (text) => {
      const reading = readInstant(text);
      const parsed = instantWithOffset.safeParse(text);
      expect(parsed.success).toBe(reading.instant !== undefined);
      if (parsed.success) expect(parsed.data).toEqual(reading.instant);
      else expect(parsed.error.issues[0]?.message).toBe(reading.problem);
      // A replay records its selection to the millisecond: a finer instant is refused, not cut.
      expect(replayTakes(text)).toEqual((reading.instant && millisecondDate(reading.instant)) ?? "refused");
    },
  );
});

const at = (text: string): Instant => readInstant(text).instant as Instant;

describe("microsecondBound", () => {
  it.each([
    ["2026-12-05T10:00:00.123456Z", "2026-12-05T10:00:00.123456Z", "2026-12-05T10:00:00.123456Z"],
    ["2026-12-05T10:00:00.123456000Z", "2026-12-05T10:00:00.123456Z", "2026-12-05T10:00:00.123456Z"],
    ["2026-12-05T10:00:00.123456001Z", "2026-12-05T10:00:00.123456Z", "2026-12-05T10:00:00.123457Z"],
    ["2026-12-05T10:00:00.123456999Z", "2026-12-05T10:00:00.123456Z", "2026-12-05T10:00:00.123457Z"],
    ["2026-12-31T23:59:59.999999001Z", "2026-12-31T23:59:59.999999Z", "2027-01-01T00:00:00.000000Z"],
    ["1969-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59.999999Z", "1970-01-01T00:00:00.000000Z"],
    ["0001-01-01T00:00:00.000000001Z", "0001-01-01T00:00:00.000000Z", "0001-01-01T00:00:00.000001Z"],
    // Past the last microsecond of 9999 lies the year 10000, written as Postgres reads it (not +010000).
    ["9999-12-31T23:59:59.999999001Z", "9999-12-31T23:59:59.999999Z", "10000-01-01T00:00:00.000000Z"],
  ])("rounds %s down to %s and up to %s", (text, down, up) => {
    expect(microsecondBound(at(text), "down")).toBe(down);
    expect(microsecondBound(at(text), "up")).toBe(up);
  });

  it("gives the microseconds next to any instant: the instant itself when it lies on one", () => {
    fc.assert(
      fc.property(
        // 0001-01-01 to the last microsecond of 9999 (past it, the year 10000: above, read by Postgres only).
        fc.bigInt({ min: -62_135_596_800_000_000_000n, max: 253_402_300_799_999_999_000n }),
        (epochNanoseconds) => {
          const instant = { epochNanoseconds };
          const [down, up] = (["down", "up"] as const).map(
            (rounded) => at(microsecondBound(instant, rounded)).epochNanoseconds,
          ) as [bigint, bigint];
          expect(down % 1000n).toBe(0n);
          expect(up % 1000n).toBe(0n);
          expect(down <= epochNanoseconds && epochNanoseconds <= up).toBe(true);
          expect(up - down).toBe(epochNanoseconds % 1000n === 0n ? 0n : 1000n);
        },
      ),
      { numRuns: 5_000 },
    );
  });
});

// The one reading of an instant that a person names (a command's --since and --until, the audit API's time
// filters): RFC 3339's date-time (§5.6), upper-case T and Z, with its offset, every field in range. JavaScript's
// Date is no judge of that: it takes hour 24 (the next day's midnight), rolls 2026-02-30 over to March 2nd, and
// guesses at a time without an offset or without seconds. A Date holds milliseconds, so a finer fraction, which
// it would cut, is refused too; so is a leap second, which it cannot hold.

/** What an instant's text names: the instant, or the first thing wrong with it, to say after the argument. */
export type InstantReading = { instant: Date; problem?: never } | { instant?: never; problem: string };

export const INSTANT_EXAMPLE = "2026-01-15T00:00:00Z";
export const NO_YEAR_ZERO = "must be in the years 0001 to 9999 (there is no year 0)";

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
    return {
      problem: `must be an RFC 3339 time with its offset, YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm), e.g. ${INSTANT_EXAMPLE}`,
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
  if (fraction.length > 3) return { problem: "must not be more precise than milliseconds" };
  if (Number(offsetHours) > 23 || Number(offsetMinutes) > 59)
    return { problem: `has no offset ${sign}${offsetHours}:${offsetMinutes} (-23:59 to +23:59)` };
  const offsetMs = (sign === "-" ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000;
  const local = Date.UTC(year, month - 1, day, hour, minute, second, Number(fraction.padEnd(3, "0")));
  // Date.UTC reads years 0-99 as 1900-1999: set the year itself.
  const instant = new Date(local);
  instant.setUTCFullYear(year, month - 1, day);
  instant.setTime(instant.getTime() - offsetMs);
  // Its offset may carry it out of the years 0001-9999 in UTC, where no stored time of the project lies.
  if (instant.getUTCFullYear() < 1 || instant.getUTCFullYear() > 9999) return { problem: NO_YEAR_ZERO };
  return { instant };
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

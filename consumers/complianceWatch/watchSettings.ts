// The compliance watch's thresholds, from the environment (validated with the consumers' settings, one
// message per bad variable), and the working-hours rule's clock.
import { z } from "zod";
import { wholeNumber } from "../../config/env.ts";

const HOURS = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/;
const MINUTES_A_DAY = 24 * 60;

/** Minutes since local midnight: [start, end); an end before the start spans midnight (22:00-06:00). */
export interface WorkingHours {
  startMinute: number;
  endMinute: number;
  timeZone: string;
}

const isTimeZone = (zone: string) => {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

/**
 * A rule alerts when the window holds more than its threshold: at 0 every principal's first read, decryption,
 * refusal or failed login would alert, a flood in which the alerts that matter would drown.
 */
const count = (fallback: number) =>
  wholeNumber(
    z
      .number()
      .min(1, "must be at least 1 (at 0, every principal's first event in a window would alert)")
      .max(100_000, "must be at most 100000"),
  ).default(fallback);

/** Spread into the consumers' settings schema (consumers/config.ts). */
export const complianceWatchSettings = {
  /** One actor may read the records of this many distinct patients within the window; one more alerts. */
  COMPLIANCE_MAX_PATIENTS: count(50),
  /**
   * One operator may open the sealed data of this many distinct patients within the window (events:tail
   * --decrypt); one more alerts. Apart from COMPLIANCE_MAX_PATIENTS, and lower: a clinician reads dozens of
   * patients' records on a ward round, but an operator's work (a failed delivery, a poisoned record) needs a
   * few patients' data at most.
   */
  COMPLIANCE_MAX_PATIENTS_DECRYPTED: count(10),
  /** Refusals (audit.compliance.violation) one principal may collect within the window. */
  COMPLIANCE_MAX_REFUSALS: count(5),
  /** Failed logins one username, or one IP address, may collect within the window. */
  COMPLIANCE_MAX_FAILED_LOGINS: count(5),
  /** The sliding window every counting rule looks at. */
  COMPLIANCE_WINDOW_MINUTES: wholeNumber(
    z.number().min(1, "must be at least 1").max(10_080, "must be at most 10080 (a week)"),
  ).default(60),
  /**
   * `HH:MM-HH:MM` in COMPLIANCE_TIME_ZONE: a read of patient data outside it alerts, an API read or an
   * operator's decryption alike. Unset: no such rule.
   */
  COMPLIANCE_WORKING_HOURS: z
    .string()
    .superRefine((spec, context) => {
      const hours = workingMinutes(spec);
      if ("problem" in hours) context.addIssue({ code: "custom", message: hours.problem });
    })
    .optional(),
  COMPLIANCE_TIME_ZONE: z
    .string()
    .refine(isTimeZone, "must be an IANA time zone, e.g. Europe/Berlin")
    .default("UTC"),
};

type RawSettings = z.output<z.ZodObject<typeof complianceWatchSettings>>;

export interface ComplianceWatchConfig {
  maxPatients: number;
  maxPatientsDecrypted: number;
  maxRefusals: number;
  maxFailedLogins: number;
  windowSeconds: number;
  workingHours: WorkingHours | null;
}

export function complianceWatchConfig(settings: RawSettings): ComplianceWatchConfig {
  return {
    maxPatients: settings.COMPLIANCE_MAX_PATIENTS,
    maxPatientsDecrypted: settings.COMPLIANCE_MAX_PATIENTS_DECRYPTED,
    maxRefusals: settings.COMPLIANCE_MAX_REFUSALS,
    maxFailedLogins: settings.COMPLIANCE_MAX_FAILED_LOGINS,
    windowSeconds: settings.COMPLIANCE_WINDOW_MINUTES * 60,
    workingHours: settings.COMPLIANCE_WORKING_HOURS
      ? workingHours(settings.COMPLIANCE_WORKING_HOURS, settings.COMPLIANCE_TIME_ZONE)
      : null,
  };
}

export function workingHours(spec: string, timeZone: string): WorkingHours {
  const hours = workingMinutes(spec);
  if ("problem" in hours) throw new Error(`working hours ${JSON.stringify(spec)}: ${hours.problem}`);
  return { ...hours, timeZone };
}

/**
 * `HH:MM-HH:MM` as minutes since midnight, or what is wrong with it. Each is a time of day, 00:00 to 23:59; the
 * end may be 24:00 too, the midnight that ends the day (18:00-24:00). An end before the start spans midnight.
 * A window of no minute (07:00-07:00) would make every read out of hours, and one of every minute (00:00-24:00)
 * none: both are refused as the slips they are more likely to be than rules.
 */
function workingMinutes(spec: string): { startMinute: number; endMinute: number } | { problem: string } {
  const match = HOURS.exec(spec);
  if (!match) return { problem: "must be HH:MM-HH:MM, e.g. 07:00-19:00" };
  const [startHour, startMinute, endHour, endMinute] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
  ];
  const [startText, endText] = spec.split("-") as [string, string];
  if (startHour > 23 || startMinute > 59) {
    return { problem: `starts at ${startText}, which is no time of day (00:00 to 23:59)` };
  }
  const start = startHour * 60 + startMinute;
  const end = endHour * 60 + endMinute;
  if (end !== MINUTES_A_DAY && (endHour > 23 || endMinute > 59)) {
    return {
      problem: `ends at ${endText}, which is no time of day (00:00 to 23:59, or 24:00 for the midnight that ends it)`,
    };
  }
  if (start === 0 && end === MINUTES_A_DAY) {
    return { problem: "is the whole day: no read would be out of hours (unset it for no such rule)" };
  }
  if (start === end) {
    return { problem: "is an empty window: every read would be out of hours (unset it for no such rule)" };
  }
  return { startMinute: start, endMinute: end };
}

export function isOutsideWorkingHours(instant: Date, hours: WorkingHours): boolean {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: hours.timeZone,
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(instant);
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const minute = part("hour") * 60 + part("minute");
  const { startMinute, endMinute } = hours;
  const inside =
    startMinute <= endMinute
      ? minute >= startMinute && minute < endMinute
      : minute >= startMinute || minute < endMinute;
  return !inside;
}

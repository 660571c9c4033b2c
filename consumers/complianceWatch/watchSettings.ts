// The compliance watch's thresholds, from the environment (validated with the consumers' settings, one
// message per bad variable), and the working-hours rule's clock.
import { z } from "zod";
import { wholeNumber } from "../../config/env.ts";

const HOURS = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/;

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

const count = (fallback: number) =>
  wholeNumber(z.number().max(100_000, "must be at most 100000")).default(fallback);

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
  COMPLIANCE_WORKING_HOURS: z.string().regex(HOURS, "must be HH:MM-HH:MM, e.g. 07:00-19:00").optional(),
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
  const match = HOURS.exec(spec);
  if (!match) throw new Error(`working hours ${JSON.stringify(spec)} are not HH:MM-HH:MM`);
  const [, startHour, startMinute, endHour, endMinute] = match.map(Number) as number[];
  return {
    startMinute: (startHour as number) * 60 + (startMinute as number),
    endMinute: (endHour as number) * 60 + (endMinute as number),
    timeZone,
  };
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

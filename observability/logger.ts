// The process logger: JSON lines with pino, with every field that could carry patient data redacted.
import { type Logger, pino } from "pino";

export type { Logger } from "pino";

/** Field names that hold PHI anywhere in a logged object (request bodies, event data, errors). */
export const PHI_FIELDS = [
  "firstName",
  "lastName",
  "dateOfBirth",
  "email",
  "phone",
  "insuranceInfo",
  "policyNumber",
  "medicalConditions",
  "allergies",
  "notes",
  "address",
  "to",
  "body",
  "variables",
] as const;

const redactPaths = PHI_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`, `*.*.*.${field}`]);

export function createLogger(
  options: { level?: string; name?: string; destination?: pino.DestinationStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? "info",
      name: options.name,
      redact: {
        paths: [...redactPaths, "req.headers.authorization", "req.headers.cookie"],
        censor: "[REDACTED]",
      },
    },
    options.destination,
  );
}

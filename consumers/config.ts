// The consumers process's own settings, validated at start with one message per bad variable (the shared
// ones, DATABASE_URL, KAFKA_BROKERS, PORT and LOG_LEVEL, come from config/env.ts).
import { z } from "zod";
import { ConfigError, wholeNumber, withoutPassword } from "../config/env.ts";
import { complianceWatchSettings } from "./complianceWatch/watchSettings.ts";

export const consumerNames = [
  "patient-directory",
  "notification-requests",
  "notification-delivery",
  "compliance-watch",
] as const;
export type ConsumerName = (typeof consumerNames)[number];

const consumersSchema = z.object({
  /** Which consumers this process runs, comma-separated; all of them by default. */
  CONSUMERS: z
    .string()
    .transform((value) => value.split(",").map((name) => name.trim()))
    .pipe(z.array(z.enum(consumerNames)).min(1))
    .default([...consumerNames]),
  /** Partitions each consumer handles at once (each in order). */
  CONSUMER_CONCURRENCY: wholeNumber(
    z.number().min(1, "must be at least 1").max(64, "must be at most 64"),
  ).default(3),
  /** E-mail goes out over SMTP when set (`smtp://user:pass@host:587`); otherwise it is only recorded. */
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, "must be an smtp:// or smtps:// URL")
    .optional(),
  NOTIFICATION_SENDER: z
    .string()
    .min(3)
    .default("Healthcare Platform <no-reply@healthcare-platform.invalid>"),
  ...complianceWatchSettings,
});

export type ConsumersConfig = z.infer<typeof consumersSchema>;

/** The variables read here: config/variables.ts lists them among the project's known ones. */
export const consumersVariables = Object.keys(consumersSchema.shape);

export function loadConsumersConfig(source: NodeJS.ProcessEnv = process.env): ConsumersConfig {
  const present = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ""));
  const result = consumersSchema.safeParse(present);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const variable = String(issue.path[0]);
      // SMTP_URL may hold the mail server's password: masked, as config/env.ts masks a database's.
      const value = variable === "SMTP_URL" ? withoutPassword(source[variable] ?? "") : source[variable];
      return `${variable}=${JSON.stringify(value)}: ${issue.message}`;
    }),
  );
}

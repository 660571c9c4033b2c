// The consumers process's own settings, validated at start with one message per bad variable (the shared
// ones, DATABASE_URL, KAFKA_BROKERS, PORT and LOG_LEVEL, come from config/env.ts).
import { z } from "zod";
import { eachOnce } from "../config/eachOnce.ts";
import { ConfigError, wholeNumber, withoutPassword } from "../config/env.ts";
import { complianceWatchSettings } from "./complianceWatch/watchSettings.ts";

export const consumerNames = [
  "patient-directory",
  "notification-requests",
  "notification-delivery",
  "compliance-watch",
] as const;
export type ConsumerName = (typeof consumerNames)[number];

/**
 * What is wrong with the mail server an smtp(s):// URL names, if anything. nodemailer sends to localhost when
 * the URL names no host, to its default port when the port is 0, and fails every send on a port past 65535.
 * Left out, the port is nodemailer's default: 587 for smtp://, 465 for smtps://.
 */
function smtpServerProblem(url: string): string | undefined {
  const authority = url.slice(url.indexOf("://") + 3).split(/[/?#]/, 1)[0] as string;
  // The user and password end at the last '@', as nodemailer's parser (Node's legacy url.parse) reads them.
  const server = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]%@]+)(?::([^:]*))?$/.exec(
    authority.slice(authority.lastIndexOf("@") + 1),
  );
  if (server === null)
    return "must name the mail server's host, like smtp://user:password@mail.example.org:587";
  const port = server[2];
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65_535)) {
    return "its port must be from 1 to 65535 (left out: 587 for smtp://, 465 for smtps://)";
  }
  return undefined;
}

/** An address as SMTP sends it: a local part of no blank, bracket, quote or separator, then a domain's labels. */
const ADDRESS = String.raw`[^\s@<>()\[\]\\,;:"]+@[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?)*`;
/**
 * `address`, or `Name <address>` with a name free of the characters that make an address list of it (`a, <b>`
 * is two mailboxes, `Clinic: <b>` a group), or in double quotes: what nodemailer reads as one mailbox. Anything
 * else (`abc`, two addresses) would send mail from no address, or from several.
 */
const SENDER = new RegExp(
  String.raw`^(?:${ADDRESS}|(?:[^<>"@,;:()\[\]\\\p{Cc}]*|"(?:[^"\\\p{Cc}]|\\.)*")\s*<${ADDRESS}>)$`,
  "u",
);

const consumersSchema = z.object({
  /**
   * Which consumers this process runs, comma-separated, each once (twice, it would run two consumers of one
   * group in this process); all of them by default.
   */
  CONSUMERS: z
    .string()
    .transform((value) => value.split(",").map((name) => name.trim()))
    .pipe(z.array(z.enum(consumerNames)).min(1).superRefine(eachOnce("consumer")))
    .default([...consumerNames]),
  /** Partitions each consumer handles at once (each in order). */
  CONSUMER_CONCURRENCY: wholeNumber(
    z.number().min(1, "must be at least 1").max(64, "must be at most 64"),
  ).default(3),
  /** E-mail goes out over SMTP when set (`smtp://user:pass@host:587`); otherwise it is only recorded. */
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, { error: "must be an smtp:// or smtps:// URL", abort: true })
    .superRefine((url, context) => {
      const problem = smtpServerProblem(url);
      if (problem) context.addIssue({ code: "custom", message: problem });
    })
    .optional(),
  /** The From of every e-mail: an address, alone or after a name. */
  NOTIFICATION_SENDER: z
    .string()
    .trim()
    .regex(
      SENDER,
      `must be an e-mail address, alone or after a name: no-reply@example.org, or Healthcare Platform <no-reply@example.org> (a name holding , ; : @ ( ) [ ] or \\ in double quotes: "Clinic, Berlin" <no-reply@example.org>)`,
    )
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

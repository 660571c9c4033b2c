// The `data` schemas of audit-events: who read or changed which record, who tried to log in, and which
// compliance rules were broken. These records answer an auditor's questions, so each names its actor.
import { z } from "zod";
import { identifier, REQUEST_BLANK, text, utcTimestamp, uuid } from "./fields.ts";

export const actorRoles = ["PATIENT", "PROVIDER", "NURSE", "STAFF", "ADMIN", "AUDITOR", "SYSTEM"] as const;

/** Who acted, on which record (`patient`/`<uuid>`, `document`/`<uuid>`, ...), and whose data that is. */
const actorAndResource = {
  actorId: uuid,
  actorRole: z.enum(actorRoles),
  resourceType: z.string().regex(/^[a-z][a-z_]*$/, "must be a lower-case resource type, e.g. patient"),
  resourceId: text(200),
  /** The patient whose data it is, `null` when the resource is not a patient's (a provider's calendar). */
  patientId: uuid.nullable(),
};

/** Which fields were read or written; `null` means the whole resource. */
const touchedFields = z.array(identifier).min(1).nullable();

export const dataAccessedSchema = z.strictObject({
  ...actorAndResource,
  action: z.enum(["READ", "SEARCH", "EXPORT", "PRINT"]),
  fields: touchedFields,
});

export const dataModifiedSchema = z.strictObject({
  ...actorAndResource,
  /** ERASE: a GDPR erasure, which destroys the data beyond recovery (the patient's key). */
  action: z.enum(["CREATE", "UPDATE", "DELETE", "ERASE"]),
  fields: touchedFields,
});

export const loginMethods = ["PASSWORD", "SSO", "MFA", "API_KEY"] as const;

/**
 * The prefix of the pseudonym an erased patient's e-mail or phone number is recorded under (apps/login-attempts):
 * reserved, so that a username beginning with it in the history is always a pseudonym the platform wrote, never
 * one typed.
 */
export const ERASED_LOGIN_PREFIX = "erased-login:";

/**
 * A username that begins with the reserved prefix in any case, in full-width forms too, after any blanks or
 * invisible characters (REQUEST_BLANK: those above U+FFFF too, tag characters say, as the username is a request's
 * alone): what a reader of the history or of the compliance watch's alerts could take for a pseudonym. Written as
 * JSON Schema publishes it, with no `i` flag (which would also let U+017F, a long s, stand for an s). The watch
 * counts usernames in Unicode NFKC (consumers/complianceWatch/observations.ts), so the username is refused when
 * its NFKC form begins so as well (`erased-㏒in:`, SQUARE LOG being `log`), which no pattern of classes can say.
 */
const POSING_AS_PSEUDONYM = new RegExp(`^[${REQUEST_BLANK}]*${inAnyCaseAndWidth(ERASED_LOGIN_PREFIX)}`, "u");

const posesAsPseudonym = (username: string) =>
  POSING_AS_PSEUDONYM.test(username) || POSING_AS_PSEUDONYM.test(username.normalize("NFKC"));

/**
 * A pattern of `text` in any case and width: each ASCII character in a class with its full-width form
 * (U+FF01 to U+FF5E), a letter with its capital's too.
 */
function inAnyCaseAndWidth(text: string): string {
  const wide = (character: string) => String.fromCharCode(character.charCodeAt(0) + 0xfee0);
  return [...text]
    .map((character) => {
      const spellings = /[a-z]/.test(character) ? [character.toUpperCase(), character] : [character];
      return `[${spellings
        .flatMap((spelling) => [spelling, wide(spelling)])
        .join("")
        .replace("-", "\\-")}]`;
    })
    .join("");
}

/**
 * A username as the auth service reports it typed: bounded by the longest possible e-mail address, and never
 * posing as an erased patient's pseudonym. No patient's e-mail can begin so (an address holds no ':').
 */
const typedUsername = text(320)
  .refine((username) => !posesAsPseudonym(username), {
    error: `must not begin with "${ERASED_LOGIN_PREFIX}" (in any case or width, also once in Unicode NFKC, after any blanks or invisible characters): the prefix of an erased patient's pseudonym`,
  })
  .meta({
    description: `As typed by the user (often an e-mail address). It must not begin with \`${ERASED_LOGIN_PREFIX}\` (in any case or width, also once in Unicode NFKC, after any blanks or invisible characters): that prefix is reserved for the pseudonym under which the platform records an erased patient's e-mail address.`,
    not: { pattern: POSING_AS_PSEUDONYM.source },
  });

/** What the auth service reports of an attempt. */
const loginAttemptReport = {
  /** `null` when the username matches no account. */
  userId: uuid.nullable(),
  username: typedUsername,
  method: z.enum(loginMethods),
  success: z.boolean(),
  reason: text(500).nullable(),
};

/** A failed attempt must say why, so that a brute-force pattern can be told from a mistyped password. */
const failureHasReason = (attempt: { success: boolean; reason: string | null }) =>
  attempt.success || attempt.reason !== null;
const reasonRequired = { path: ["reason"], error: "is required when the attempt failed" };
/** The same rule in JSON Schema: a success, or a reason that is a string. */
export const REASON_WHEN_FAILED = {
  description: "A failed attempt (success false) names its reason.",
  anyOf: [{ properties: { success: { const: true } } }, { properties: { reason: { type: "string" } } }],
};

/** The body of POST /internal/login-attempts. */
export const loginAttemptReportSchema = z
  .strictObject(loginAttemptReport)
  .refine(failureHasReason, reasonRequired)
  .meta(REASON_WHEN_FAILED);

/** A login attempt's username as the history holds it: an erased patient's address never comes back. */
const recordedUsername = text(320).meta({
  description:
    "As typed by the user (often an e-mail address or a phone number), sealed when `patientId` names a patient. When it is an erased patient's e-mail address (in any case or in full-width letters, blanks around it ignored) or phone number (in any spelling: digits of any script, blanks, dots, dashes, slashes and parentheses after an optional leading `+`, with or without the country code), either also percent-encoded or HTML-escaped (`ada%40…`, `ada&#64;…`), and no live patient's, it is recorded as `erased-login:` and 32 hex digits instead (a keyed hash of the address or whole number, the same for every attempt on it), never the address or number. A typed username may not begin with `erased-login:`, so one that does is always such a pseudonym.",
});

export const loginAttemptSchema = z
  .strictObject({
    ...loginAttemptReport,
    username: recordedUsername,
    /**
     * The patient whose login it is (their account, or their e-mail or phone number typed as the username),
     * `null` for anyone else: the username is then sealed under that patient's key, and dies with their erasure.
     */
    patientId: uuid.nullable(),
  })
  .refine(failureHasReason, reasonRequired)
  .meta(REASON_WHEN_FAILED);

export const complianceViolationSchema = z.strictObject({
  ...actorAndResource,
  /** The rule broken, e.g. `HIPAA.164.312b` or `minimum-necessary`. */
  rule: identifier,
  reason: text(1000),
  severity: z.enum(["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
});

/** The compliance watch's rules (consumers/complianceWatch): what pattern an alert reports. */
export const complianceAlertRules = [
  "many-patients-read",
  "repeated-refusals",
  "failed-logins-by-username",
  "failed-logins-by-ip",
  "erased-patient-read",
  "out-of-hours-read",
  "many-patients-decrypted",
] as const;

/**
 * A pattern the compliance watch found: who, within which window, and the events that show it, by id only, so
 * the alert itself holds no personal data. The principal is an actor id; an operator's login name (their
 * audit.operator.decrypted events: an operator has no platform account); a patient id (failed logins on a
 * patient's login, whose username is their sealed e-mail); a username typed at login that is no patient's; or
 * an IP address as a keyed pseudonym (`ip-pseudonym`: the same address always gives the same one, and the
 * evidence events hold the address itself, sealed where it is a patient's).
 */
export const complianceAlertSchema = z
  .strictObject({
    rule: z.enum(complianceAlertRules),
    principal: z.strictObject({
      // `username` (the username as counted, in plain text) is no longer written: an address typed before it was
      // a patient's stayed readable in it. The alerts raised so before migration 0028 are still in the history.
      kind: z.enum(["actor", "operator", "patient", "username", "username-pseudonym", "ip-pseudonym"]),
      id: text(320),
    }),
    window: z.strictObject({ start: utcTimestamp, end: utcTimestamp }),
    /** What the rule allows within the window (0: any such event is reported). */
    threshold: z.number().int().min(0),
    /** What the window held: distinct patients, refusals, failed logins, reads or decryptions. */
    observed: z.number().int().min(1),
    evidenceEventIds: z.array(uuid).min(1).max(1000),
  })
  .refine((alert) => Date.parse(alert.window.end) >= Date.parse(alert.window.start), {
    path: ["window", "end"],
    error: "must not precede the window's start",
  });

/** A Kafka topic's name, as Kafka allows it. */
const kafkaTopicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, "must be a Kafka topic name");

/** A place in the outbox history: the relay's (tx_id, position) order, as decimal strings. */
const historyCursor = z.strictObject({
  txId: z.string().regex(/^[0-9]{1,20}$/, "must be a transaction id"),
  position: z.string().regex(/^[0-9]{1,19}$/, "must be an outbox position"),
});

/**
 * An operator republished part of the outbox history to Kafka (`npm run replay`): what was selected, where
 * it went, and how far the history was read. Recorded before the first record is sent, so that no replay
 * goes unrecorded; `events` is what the selection held then. The filters are ids, types and bounds only,
 * never personal data.
 */
export const historyReplayedSchema = z.strictObject({
  replayId: uuid,
  /** Who ran the command: the login name on the machine it ran on (an operator has no platform account). */
  operator: identifier,
  selection: z.strictObject({
    topic: kafkaTopicName.nullable(),
    fromPosition: z
      .string()
      .regex(/^[0-9]{1,19}$/, "must be an outbox position")
      .nullable(),
    toPosition: z
      .string()
      .regex(/^[0-9]{1,19}$/, "must be an outbox position")
      .nullable(),
    since: utcTimestamp.nullable(),
    until: utcTimestamp.nullable(),
    aggregateType: identifier.nullable(),
    aggregateId: text(200).nullable(),
    eventType: identifier.nullable(),
    correlationId: uuid.nullable(),
  }),
  /** Where every record went; `null`: each to its own topic, as the relay published it. */
  toTopic: kafkaTopicName.nullable(),
  /** The selection was read up to here: the relay's checkpoint for a replay to the records' own topic. */
  through: historyCursor,
  events: z.number().int().min(0),
  eventsPerTopic: z.record(kafkaTopicName, z.number().int().min(1)),
  /** The rate limit, events per second; `null`: as fast as Kafka takes them. */
  ratePerSecond: z.number().positive().nullable(),
});

/** The tools an operator can open patients' sealed fields with. */
export const decryptingTools = ["events:tail"] as const;

/**
 * An operator opened a patient's sealed personal fields outside the platform's services (`npm run events:tail
 * -- --decrypt`): who, with which tool, whose data, in which record, and which fields. Recorded before the
 * opened record is shown, so that no such access goes unrecorded. Ids, types and field names only, never the
 * values opened.
 */
export const operatorDecryptedSchema = z.strictObject({
  /** Who ran the command: the login name on the machine it ran on (an operator has no platform account). */
  operator: identifier,
  tool: z.enum(decryptingTools),
  /** The patient whose key opened the fields. */
  patientId: uuid,
  /** The Kafka record as it was read, and the event it carries. */
  record: z.strictObject({
    topic: kafkaTopicName,
    partition: z.number().int().min(0),
    offset: z.string().regex(/^[0-9]{1,19}$/, "must be a Kafka offset"),
    eventId: uuid,
    eventType: identifier,
  }),
  /** The sealed paths opened: data fields (`changes.phone`) and request metadata (`metadata.ipAddress`). */
  fields: z.array(identifier).min(1),
});

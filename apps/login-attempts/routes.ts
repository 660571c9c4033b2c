// The internal endpoint through which the (external) auth service records login attempts as
// audit.login.attempt events. Only the service role reaches it; the attempt itself is the record. An attempt on
// a patient's login (their account, or their e-mail or phone number typed) names the patient, which seals the
// username. An erased patient's e-mail or number typed later, or any username tried on their account, names no
// one and is not sealed: it is recorded under a pseudonym instead, whose prefix no typed username may begin with
// (the body's schema refuses it), so none can pose as one.
import { randomUUID } from "node:crypto";
import { z } from "@hono/zod-openapi";
import { eq, sql } from "drizzle-orm";
import type { Context } from "hono";
import type { Database, WriteTransaction } from "../../db/client.ts";
import {
  erasedAccountHash,
  erasedLoginHash,
  erasedPhoneHash,
  loginHashesOf,
  patientOfFormerLogin,
  patientOfFormerPhone,
} from "../../db/erasedLogins.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import { patientWithPhone } from "../../db/patientWithPhone.ts";
import { patients } from "../../db/schema.ts";
import { loginAttemptReportSchema, REASON_WHEN_FAILED } from "../../events/audit.ts";
import { erasedLoginPseudonym, normalizedLogin, withoutAddress } from "../../phi/erasedLoginPseudonym.ts";
import { typedPhone, withoutPhone } from "../../phi/loginPhone.ts";
import type { MasterKeys } from "../../phi/masterKeys.ts";
import { addressesIn, phonesIn, readAsLogin, spelledLogin } from "../../phi/spelledLogin.ts";
import { eventContext } from "../http/eventContext.ts";
import { answerOnce } from "../http/idempotency.ts";
import { anyCaseUuid } from "../http/ids.ts";
import { json, problem, securedRoute } from "../http/openapi.ts";
import { createRouter, type ServiceEnv } from "../http/service.ts";

export const LOGIN_AUDIT_SERVICE = "login-audit-service";

const recorded = z.object({ eventId: z.uuid() });

const loginAttemptBody = loginAttemptReportSchema
  .safeExtend({ userId: anyCaseUuid.nullable() })
  .meta(REASON_WHEN_FAILED);

const routes = {
  record: securedRoute(
    {
      source: LOGIN_AUDIT_SERVICE,
      resource: "login_attempt",
      roles: ["service"],
      rule: "Called by the auth service, with a service token.",
    },
    {
      method: "post",
      path: "/internal/login-attempts",
      summary: "Record a login attempt (emits audit.login.attempt)",
      request: { body: { content: json(loginAttemptBody), required: true } },
      responses: {
        201: { description: "Recorded", content: json(recorded) },
        400: problem("Invalid input, e.g. a failed attempt without a reason"),
        422: problem("Idempotency-Key reused for another request"),
      },
    },
  ),
};

export function loginAttemptRoutes(db: Database) {
  return createRouter().openapi(routes.record, async (c) => {
    const attempt = c.req.valid("json");
    const answer = await answerOnce(c, db, LOGIN_AUDIT_SERVICE, async (tx) => {
      const patientId = await patientOfLogin(tx, c.get("masterKeys"), attempt);
      // About a patient, the reason is sealed with the username; about an erased one, the address or number it
      // may quote is replaced by the username's pseudonym as well; and whoever it is about, any erased patient's
      // address or number the reason quotes, by its pseudonym.
      const named =
        patientId === null
          ? await anonymousAttempt(tx, c.get("masterKeys"), attempt)
          : { ...attempt, erased: false };
      const { username, erased } = named;
      const reason = await withoutErasedLogins(tx, c.get("masterKeys"), named.reason);
      const [appended] = await appendEvents(tx, eventContext(c, LOGIN_AUDIT_SERVICE), [
        { type: "audit.login.attempt", data: { ...attempt, username, reason, patientId } },
      ]);
      return {
        status: 201 as const,
        body: { eventId: appended?.eventId ?? randomUUID() },
        patientId,
        loginHashes: erased ? [] : await namedLogins(c, tx, attempt.username),
        namesErased: erased,
      };
    });
    return c.json(answer.body, answer.status);
  });
}

/**
 * What the kept answer to a request with an Idempotency-Key keeps of the login it typed: the hashes that the
 * erasure of the patient whose address or number it is (now or later: typed before they registered with it, it
 * names no one yet) finds it by, to empty it with the request's fingerprint, a hash of the username as typed.
 * None without a key: nothing is kept.
 */
async function namedLogins(c: Context<ServiceEnv>, tx: WriteTransaction, typed: string): Promise<Buffer[]> {
  if (c.req.header("idempotency-key") === undefined) return [];
  return loginHashesOf(tx, c.get("masterKeys"), spelledLogin(typed));
}

/**
 * An attempt on a username that is no live patient's, as the history may hold it: as typed, unless it is an
 * erased patient's e-mail (any case, full-width letters, blanks around it ignored) or phone number (any spelling,
 * phi/loginPhone.ts), either also escaped, with invisible characters or in a mail or tel: form
 * (phi/spelledLogin.ts), which their erasure took: then its pseudonym, the same for every attempt on the address
 * or number, so that the compliance watch still counts failed attempts on it together; and the reason with every
 * spelling of it replaced by the pseudonym. Else, made on the account of an erased patient (its `userId`), the
 * account's pseudonym, whatever was typed. `erased` tells which.
 */
async function anonymousAttempt(
  tx: WriteTransaction,
  masterKeys: MasterKeys,
  attempt: { userId: string | null; username: string; reason: string | null },
): Promise<{ username: string; reason: string | null; erased: boolean }> {
  const typedLogin = await attemptOnErasedLogin(tx, masterKeys, attempt);
  if (typedLogin.erased || attempt.userId === null) return typedLogin;
  const account = await erasedAccountHash(tx, masterKeys, attempt.userId);
  if (account === null) return typedLogin;
  // The account of an erased patient, no record of it left: whatever was typed at it was theirs (a username, a
  // second address). The reason is kept only when it quotes the username in no spelling: both read as a login is
  // (escapes decoded, invisible characters dropped, NFKC: `j%64oe`, `ｊｄｏｅ`, `j&#100;oe` are `jdoe`), in any case.
  const pseudonym = erasedLoginPseudonym(account);
  const { username, reason } = attempt;
  if (reason === null) return { username: pseudonym, reason, erased: true };
  const readings = [reason.toLowerCase(), readAsLogin(reason)];
  const spellings = [username.toLowerCase(), readAsLogin(username), normalizedLogin(spelledLogin(username))];
  const quotes = spellings.some((spelling) => readings.some((reading) => reading.includes(spelling)));
  return { username: pseudonym, reason: quotes ? pseudonym : reason, erased: true };
}

/** anonymousAttempt's answer for the username typed, whoever's account it was tried on. */
async function attemptOnErasedLogin(
  tx: WriteTransaction,
  masterKeys: MasterKeys,
  { username: typed, reason }: { username: string; reason: string | null },
): Promise<{ username: string; reason: string | null; erased: boolean }> {
  const login = spelledLogin(typed);
  // Every patient's e-mail has an @, and no phone number does: other usernames cost no lookup.
  if (normalizedLogin(login).includes("@")) {
    const hash = await erasedLoginHash(tx, masterKeys, login);
    if (hash === null) return { username: typed, reason, erased: false };
    const pseudonym = erasedLoginPseudonym(hash);
    return {
      username: pseudonym,
      reason: reason === null ? null : withoutAddress(reason, login, pseudonym),
      erased: true,
    };
  }
  const phone = typedPhone(login);
  const hash = phone === null ? null : await erasedPhoneHash(tx, masterKeys, phone);
  if (phone === null || hash === null) return { username: typed, reason, erased: false };
  const pseudonym = erasedLoginPseudonym(hash);
  return {
    username: pseudonym,
    reason: reason === null ? null : withoutPhone(reason, phone, pseudonym),
    erased: true,
  };
}

/**
 * `reason` with each erased patient's address or phone number it quotes (whoever the attempt is about: "unknown
 * user; the account of ada@example.org is locked", "no account for +49 30 1234 5678") as its pseudonym, as
 * anonymousAttempt replaces the username's own. One lookup on erased_logins' primary key per address or number
 * quoted; none for a reason that quotes none. Fail-closed: where a quoted spelling cannot be replaced in place
 * (an invisible character inside it), the reason is recorded as the pseudonym alone.
 */
async function withoutErasedLogins(
  tx: WriteTransaction,
  masterKeys: MasterKeys,
  reason: string | null,
): Promise<string | null> {
  if (reason === null) return null;
  let cleaned = reason;
  for (const address of addressesIn(reason)) {
    const hash = await erasedLoginHash(tx, masterKeys, address);
    if (hash === null) continue;
    const pseudonym = erasedLoginPseudonym(hash);
    cleaned = withoutAddress(cleaned, address, pseudonym);
    if (addressesIn(cleaned).includes(address)) return pseudonym;
  }
  for (const phone of phonesIn(cleaned)) {
    const hash = await erasedPhoneHash(tx, masterKeys, phone);
    if (hash === null) continue;
    const pseudonym = erasedLoginPseudonym(hash);
    cleaned = withoutPhone(cleaned, phone, pseudonym);
    const quoted = JSON.stringify(phone);
    if (phonesIn(cleaned).some((left) => JSON.stringify(left) === quoted)) return pseudonym;
  }
  return cleaned;
}

/**
 * The patient whose account this is; else the patient whose e-mail was typed as the username (any case), the
 * record that had it first when several share it; else the patient who had it before changing it (a former
 * address typed is as much theirs, and recorded as typed it would outlive their erasure). Likewise for a
 * username that is a phone number (phi/loginPhone.ts): the first record whose number it could be (several may
 * share a landline), else the first that had it before a change. An account's own record always wins: a record
 * made later with someone's e-mail or number never draws their login attempts to itself. The username is compared
 * as the login it spells (phi/spelledLogin.ts): `ada%40example.org`, `ada@example.org` with a zero-width space
 * in it, `mailto:ada@example.org` or `tel:+14155550123` typed is the address or number it spells, and sealed.
 */
async function patientOfLogin(
  tx: WriteTransaction,
  masterKeys: MasterKeys,
  attempt: { userId: string | null; username: string },
): Promise<string | null> {
  if (attempt.userId !== null) {
    const [account] = await tx
      .select({ id: patients.id })
      .from(patients)
      .where(eq(patients.userId, attempt.userId))
      // A login holds one live record, and may hold deleted ones (a patient deleted, then registered again):
      // the live one, else the first.
      .orderBy(sql`${patients.deletedAt} IS NOT NULL`, patients.createdAt, patients.id)
      .limit(1);
    if (account) return account.id;
  }
  const login = spelledLogin(attempt.username);
  const [byEmail] = await tx
    .select({ id: patients.id })
    .from(patients)
    .where(sql`lower(${patients.email}) = ${normalizedLogin(login)}`)
    .orderBy(patients.createdAt, patients.id)
    .limit(1);
  if (byEmail) return byEmail.id;
  // Every patient's e-mail has an @: other usernames cost no lookup of former addresses.
  if (normalizedLogin(login).includes("@")) return patientOfFormerLogin(tx, masterKeys, login);
  const phone = typedPhone(login);
  if (phone === null) return null;
  return (await patientWithPhone(tx, phone)) ?? patientOfFormerPhone(tx, masterKeys, phone);
}

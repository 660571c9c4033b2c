// What each audit event counts for, rule by rule: the principal it counts against, the value counted
// (distinct patients, or the events themselves) and how many the rule allows within the window.
import type { EventData, TypedEnvelope } from "../../events/index.ts";
import { typedPhone } from "../../phi/loginPhone.ts";
import { spelledLogin } from "../../phi/spelledLogin.ts";
import { type ComplianceWatchConfig, isOutsideWorkingHours } from "./watchSettings.ts";

export type AlertRule = EventData<"audit.compliance.alert">["rule"];
export type PrincipalKind = EventData<"audit.compliance.alert">["principal"]["kind"];

export interface Observation {
  rule: AlertRule;
  principal: { kind: PrincipalKind; id: string };
  counted: string;
  /** Alert when the window holds more than this many distinct `counted` values. */
  threshold: number;
}

/** A read of a patient's data: whether the patient had been erased when it happened. */
export type ErasedBefore = (patientId: string, at: Date) => Promise<boolean>;

export async function dataAccessObservations(
  event: TypedEnvelope<"audit.data.accessed">,
  config: ComplianceWatchConfig,
  erasedBefore: ErasedBefore,
): Promise<Observation[]> {
  const { actorId, patientId } = event.data;
  if (patientId === null) return [];
  const actor = { kind: "actor", id: actorId } as const;
  const at = new Date(event.timestamp);
  const observations: Observation[] = [
    { rule: "many-patients-read", principal: actor, counted: patientId, threshold: config.maxPatients },
  ];
  if (await erasedBefore(patientId, at)) {
    observations.push({
      rule: "erased-patient-read",
      principal: actor,
      counted: event.eventId,
      threshold: 0,
    });
  }
  observations.push(...outOfHoursObservations(event, actor, config));
  return observations;
}

/**
 * An operator's opening of a patient's sealed fields (events:tail --decrypt) is a read of that patient's data,
 * counted against the operator: under a many-patients rule of its own (COMPLIANCE_MAX_PATIENTS_DECRYPTED) and
 * the working hours. No erased-patient rule: an erased patient's key is destroyed, so nothing of theirs can be
 * opened, and the tool records no such event.
 */
export function operatorDecryptionObservations(
  event: TypedEnvelope<"audit.operator.decrypted">,
  config: ComplianceWatchConfig,
): Observation[] {
  const operator = { kind: "operator", id: event.data.operator } as const;
  return [
    {
      rule: "many-patients-decrypted",
      principal: operator,
      counted: event.data.patientId,
      threshold: config.maxPatientsDecrypted,
    },
    ...outOfHoursObservations(event, operator, config),
  ];
}

function outOfHoursObservations(
  event: TypedEnvelope,
  principal: Observation["principal"],
  config: ComplianceWatchConfig,
): Observation[] {
  const outOfHours =
    config.workingHours !== null && isOutsideWorkingHours(new Date(event.timestamp), config.workingHours);
  return outOfHours ? [{ rule: "out-of-hours-read", principal, counted: event.eventId, threshold: 0 }] : [];
}

export function refusalObservations(
  event: TypedEnvelope<"audit.compliance.violation">,
  config: ComplianceWatchConfig,
): Observation[] {
  return [
    {
      rule: "repeated-refusals",
      principal: { kind: "actor", id: event.data.actorId },
      counted: event.eventId,
      threshold: config.maxRefusals,
    },
  ];
}

/**
 * A username as failed logins on it are counted: one identity provider compares usernames in any case, another
 * folds full-width letters or composed characters, so every spelling that any of them may take for the same
 * login (`Admin`, ` admin `, `ＡＤＭＩＮ`, a decomposed accent, a phone number with or without its blanks) counts
 * together. Counting more attempts together
 * raises an alert sooner; counting them apart would let a guesser stay under the threshold by re-spelling.
 */
export function usernameAsCounted(username: string): string {
  // The login it spells (phi/spelledLogin.ts): escapes decoded, characters that show nothing dropped (`ad\u200bmin`
  // is `admin` on a screen, and to a provider that strips them), the address a mail form holds.
  const login = spelledLogin(username);
  // A phone number (phi/loginPhone.ts) by its digits, in whatever script and with whatever separators, `+` or
  // `00` it was typed: `+1 415 555 0123`, `0014155550123` and `١٤١٥٥٥٥٠١٢٣` are one login to a phone sign-in.
  const phone = typedPhone(login);
  if (phone !== null) return `tel:${phone.endings[0]}`;
  return login.normalize("NFKC").trim().toLowerCase();
}

/**
 * What the watch stores and reports instead of an IP address or a username: a keyed pseudonym, equal for equal
 * values, that reads as neither.
 */
export interface LoginPseudonyms {
  ip: (ipAddress: string) => string;
  /** Of a username as counted (`usernameAsCounted`), so that every spelling of it has the same pseudonym. */
  username: (counted: string) => string;
}

export function failedLoginObservations(
  event: TypedEnvelope<"audit.login.attempt">,
  config: ComplianceWatchConfig,
  pseudonyms: LoginPseudonyms,
): Observation[] {
  if (event.data.success) return [];
  // A patient's username is their e-mail or phone number, sealed under their key: counted by the patient's id
  // instead. Any other username is counted by its pseudonym: one that named nobody when it was typed may be
  // a patient's address all the same (typed before they registered with it), and nothing the erasure reaches
  // would take it out of the watch's tables or its alerts.
  const { patientId, username } = event.data;
  const observations: Observation[] = [
    {
      rule: "failed-logins-by-username",
      principal:
        patientId === null
          ? { kind: "username-pseudonym", id: pseudonyms.username(usernameAsCounted(username)) }
          : { kind: "patient", id: patientId },
      counted: event.eventId,
      threshold: config.maxFailedLogins,
    },
  ];
  const ip = event.metadata.ipAddress;
  if (ip) {
    observations.push({
      rule: "failed-logins-by-ip",
      principal: { kind: "ip-pseudonym", id: pseudonyms.ip(ip) },
      counted: event.eventId,
      threshold: config.maxFailedLogins,
    });
  }
  return observations;
}

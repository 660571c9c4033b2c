// The compliance watch: reads audit-events and reports suspicious patterns as audit.compliance.alert events,
// appended through the outbox in the inbox transaction, so each finding joins the tamper-evident history
// exactly once, whatever Kafka redelivers. The rules and their thresholds: observations.ts, watchSettings.ts.
import { createHmac, hkdfSync } from "node:crypto";
import { connectionOf } from "../../db/client.ts";
import { appendEvents } from "../../db/outbox/appendEvents.ts";
import type { TypedEnvelope } from "../../events/index.ts";
import type { MasterKeys } from "../../phi/masterKeys.ts";
import { contextCausedBy } from "../runtime/causedContext.ts";
import type { TransactionalConsumer, TransactionalContext } from "../runtime/consumerDefinition.ts";
import {
  dataAccessObservations,
  failedLoginObservations,
  type Observation,
  operatorDecryptionObservations,
  refusalObservations,
} from "./observations.ts";
import type { ComplianceWatchConfig } from "./watchSettings.ts";
import { breachingWindow, recordAlert, recordObservation } from "./watchStore.ts";

export const COMPLIANCE_WATCH = "compliance-watch";

/**
 * IP addresses and usernames are counted under HMAC pseudonyms keyed from the current master key, one key per
 * kind: equal values match, and nothing the watch stores or reports reads as an address or a username (either
 * may be a patient's personal data). Rotating the master key starts new pseudonyms, so windows open at the
 * rotation start afresh.
 */
function keyedPseudonyms(masterKeys: MasterKeys, purpose: string): (value: string) => string {
  const master = masterKeys.keys.get(masterKeys.currentId) as Buffer;
  const key = Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), `compliance-watch/${purpose}`, 32));
  return (value) =>
    `${masterKeys.currentId}:${createHmac("sha256", key).update(value).digest("hex").slice(0, 32)}`;
}

export function ipPseudonyms(masterKeys: MasterKeys): (ipAddress: string) => string {
  const pseudonym = keyedPseudonyms(masterKeys, "ip-pseudonym");
  return (ipAddress) => pseudonym(ipAddress.toLowerCase());
}

/** A username's pseudonym, of its counted form (`usernameAsCounted`), which every spelling of it folds to. */
export function usernamePseudonyms(masterKeys: MasterKeys): (counted: string) => string {
  return keyedPseudonyms(masterKeys, "username-pseudonym");
}

export function complianceWatchConsumer(
  config: ComplianceWatchConfig,
  { masterKeys, name = COMPLIANCE_WATCH }: { masterKeys: MasterKeys; name?: string },
): TransactionalConsumer {
  const pseudonyms = { ip: ipPseudonyms(masterKeys), username: usernamePseudonyms(masterKeys) };
  async function watch(
    event: TypedEnvelope,
    observations: Observation[],
    { tx, record }: TransactionalContext,
  ) {
    const at = new Date(event.timestamp);
    for (const observation of observations) {
      const subject = `${observation.principal.kind}:${observation.principal.id}`;
      const recorded = await recordObservation(tx, {
        rule: observation.rule,
        subject,
        eventId: event.eventId,
        occurredAt: at,
        counted: observation.counted,
      });
      if (!recorded) continue;
      const breach = await breachingWindow(tx, {
        rule: observation.rule,
        subject,
        at,
        windowSeconds: config.windowSeconds,
        threshold: observation.threshold,
        notBefore: recorded.alertedUntil,
      });
      if (!breach) continue;
      const [alert] = await appendEvents(
        tx,
        contextCausedBy(COMPLIANCE_WATCH, { event, record }, masterKeys),
        [
          {
            type: "audit.compliance.alert",
            data: {
              rule: observation.rule,
              principal: observation.principal,
              window: { start: breach.windowStart.toISOString(), end: breach.windowEnd.toISOString() },
              threshold: observation.threshold,
              observed: breach.observed,
              evidenceEventIds: breach.evidenceEventIds,
            },
          },
        ],
      );
      const until = new Date(breach.windowStart.getTime() + config.windowSeconds * 1000);
      await recordAlert(tx, {
        eventId: (alert as { eventId: string }).eventId,
        rule: observation.rule,
        subject,
        breach,
        until,
      });
    }
  }

  return {
    kind: "transactional",
    name,
    topics: ["audit-events"],
    // Who read, opened or was refused whose data, and when, is the evidence the rules count, and no personal
    // data of the patient: it is watched after an erasure too (the request's IP address and user agent went
    // with it).
    erasedPatients: "without-personal-metadata",
    // One principal's events all update its row of compliance_watch_subjects: a busy clinician's reads,
    // spread over the topic's partitions, would otherwise collide and retry (40001) on every other event; so
    // would an operator's decryptions while tailing a busy topic.
    lineFor: (event) => {
      if (event.eventType === "audit.data.accessed" || event.eventType === "audit.compliance.violation") {
        return { aggregateType: "compliance-watch-actor", aggregateId: event.data.actorId };
      }
      if (event.eventType === "audit.operator.decrypted") {
        return { aggregateType: "compliance-watch-operator", aggregateId: event.data.operator };
      }
      return undefined;
    },
    handlers: {
      "audit.data.accessed": async (event, context) => {
        const erasedBefore = async (patientId: string, at: Date) => {
          const keys = await connectionOf(context.tx).query<{ erasedAt: Date | null }>({
            name: "compliance-watch.erased-at.v1",
            text: 'SELECT erased_at AS "erasedAt" FROM patient_keys WHERE patient_id = $1',
            values: [patientId],
          });
          const erasedAt = keys.rows[0]?.erasedAt;
          return erasedAt != null && erasedAt <= at;
        };
        await watch(event, await dataAccessObservations(event, config, erasedBefore), context);
      },
      "audit.compliance.violation": (event, context) =>
        watch(event, refusalObservations(event, config), context),
      "audit.login.attempt": (event, context) =>
        watch(event, failedLoginObservations(event, config, pseudonyms), context),
      "audit.operator.decrypted": (event, context) =>
        watch(event, operatorDecryptionObservations(event, config), context),
    },
  };
}

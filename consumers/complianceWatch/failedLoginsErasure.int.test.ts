// Failed logins on a patient's e-mail address or phone number, from the login endpoint through the outbox, the
// relay and Kafka to the compliance watch: its alert (in the outbox, as it goes to Kafka and the history) and
// its own tables hold the address or number nowhere, neither once the watch has alerted nor after the patient's
// erasure. Whether the attempts named the patient when they were made (their username then sealed, and counted
// by the patient's id) or nobody (typed before the patient registered with it: the username as typed, counted
// by its pseudonym), every spelling of the login counts together.

import { randomUUID } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { outbox } from "../../db/schema.ts";
import type { EventData } from "../../events/index.ts";
import type { OutboxRelay } from "../../relay/relay.ts";
import { handledBy } from "../../test/consumers/inbox.ts";
import { type StartedConsumer, startTestConsumer } from "../../test/consumers/inProcess.ts";
import {
  kafkaBrokers,
  newPatientBody,
  startRelay,
  testDatabase,
  testMasterKeys,
} from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";
import { complianceWatchConsumer, usernamePseudonyms } from "./complianceWatchConsumer.ts";
import { complianceWatchConfig } from "./watchSettings.ts";

const MAX_FAILED_LOGINS = 2;

// No working hours: the events are timestamped now, and the out-of-hours rule would depend on the clock.
const config = complianceWatchConfig({
  COMPLIANCE_MAX_PATIENTS: 50,
  COMPLIANCE_MAX_PATIENTS_DECRYPTED: 10,
  COMPLIANCE_MAX_REFUSALS: 5,
  COMPLIANCE_MAX_FAILED_LOGINS: MAX_FAILED_LOGINS,
  COMPLIANCE_WINDOW_MINUTES: 60,
  COMPLIANCE_TIME_ZONE: "UTC",
});

const db = testDatabase();
const platform = testPlatform(db);
let watch: StartedConsumer;
let relay: OutboxRelay;
beforeAll(async () => {
  watch = await startTestConsumer(complianceWatchConsumer(config, { masterKeys: testMasterKeys }), {
    db,
    kafkaBrokers: kafkaBrokers(),
  });
  relay = startRelay();
});
afterAll(async () => {
  await relay.stop();
  await watch.stop();
  await db.$client.end();
});

async function post(who: Caller, path: string, body?: unknown): Promise<{ id: string; eventId: string }> {
  const response = await platform.request(path, {
    method: "POST",
    headers: who.headers({ "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(response.status).toBeLessThan(300);
  return (await response.json()) as { id: string; eventId: string };
}

const register = async (login: { email?: string; phone?: string }) =>
  (await post(await caller("admin"), "/patients", newPatientBody(login))).id;

const erase = async (patientId: string) => post(await caller("admin"), `/patients/${patientId}/erasure`);

/** Fails a login on each username, as the identity provider reports it; waits until the watch has read each. */
async function failLogins(usernames: string[]): Promise<{ eventId: string; patientId: string | null }[]> {
  const service = await caller("service");
  const attempts = [];
  for (const username of usernames) {
    const { eventId } = await post(service, "/internal/login-attempts", {
      ...requestBodies.loginAttempt(),
      username,
      success: false,
    });
    const [row] = await db
      .select({ patientId: outbox.patientId })
      .from(outbox)
      .where(eq(outbox.eventId, eventId));
    attempts.push({ eventId, patientId: row?.patientId ?? null });
  }
  await handledBy(
    db,
    watch.name,
    attempts.map((attempt) => attempt.eventId),
  );
  return attempts;
}

/** The failed-login alerts in the outbox whose evidence starts with the first of these attempts. */
async function alertsOn(evidence: string[]): Promise<EventData<"audit.compliance.alert">[]> {
  const rows = await db
    .select({ payload: outbox.payload })
    .from(outbox)
    .where(
      and(
        eq(outbox.eventType, "audit.compliance.alert"),
        sql`${outbox.payload} -> 'data' ->> 'rule' = 'failed-logins-by-username'`,
        sql`${outbox.payload} -> 'data' -> 'evidenceEventIds' ->> 0 = ${evidence[0]}`,
      ),
    );
  return rows.map((row) => (row.payload as { data: EventData<"audit.compliance.alert"> }).data);
}

/**
 * Where `text` is found, in any case: any row of the watch's tables, and any alert in the outbox (its payload,
 * as it goes to Kafka and into the history, and its aggregate id, the record's key).
 */
async function placesHolding(text: string): Promise<string[]> {
  const pattern = `%${text}%`;
  const found = await db.execute<{ place: string }>(sql`
    SELECT 'compliance_watch_observations' AS place FROM compliance_watch_observations t WHERE t::text ILIKE ${pattern}
    UNION ALL
    SELECT 'compliance_watch_subjects' FROM compliance_watch_subjects t WHERE t::text ILIKE ${pattern}
    UNION ALL
    SELECT 'compliance_watch_alerts' FROM compliance_watch_alerts t WHERE t::text ILIKE ${pattern}
    UNION ALL
    SELECT 'outbox alert' FROM outbox
     WHERE event_type = 'audit.compliance.alert' AND (payload::text ILIKE ${pattern} OR aggregate_id ILIKE ${pattern})`);
  return found.rows.map((row) => row.place);
}

const newEmail = () => `watched.${randomUUID()}@example.org`;
/** A US number no other test uses, as its digits after the `+`. */
const newPhoneDigits = () => `1415${String(Math.floor(Math.random() * 10 ** 7)).padStart(7, "0")}`;
const phoneSpellings = (digits: string) => [
  `+${digits}`,
  ` +1 (${digits.slice(1, 4)}) ${digits.slice(4, 7)}-${digits.slice(7)} `,
  `001 ${digits.slice(1, 4)}.${digits.slice(4, 7)}.${digits.slice(7)}`,
];

describe("failed logins on a patient's address or number: not in the watch's tables or alerts", () => {
  it.each([
    {
      login: "e-mail address",
      make: () => {
        const email = newEmail();
        return {
          registration: { email },
          spellings: [email, email.toUpperCase(), ` ${email} `],
          searched: email,
          counted: email,
        };
      },
    },
    {
      login: "phone number",
      make: () => {
        const digits = newPhoneDigits();
        return {
          registration: { phone: `+${digits}` },
          spellings: phoneSpellings(digits),
          // Its national digits: in any spelling the watch might store it, with or without the country code.
          searched: digits.slice(1),
          counted: `tel:${digits}`,
        };
      },
    },
  ])(
    "typed before the patient registered with it ($login): counted by its pseudonym, every spelling together",
    async ({ make }) => {
      const { registration, spellings, searched, counted } = make();
      const beforeThreshold = await failLogins(spellings.slice(0, MAX_FAILED_LOGINS));
      expect(beforeThreshold.map((attempt) => attempt.patientId)).toEqual([null, null]);
      expect(await alertsOn(beforeThreshold.map((attempt) => attempt.eventId))).toEqual([]);
      const attempts = [...beforeThreshold, ...(await failLogins(spellings.slice(MAX_FAILED_LOGINS)))];
      const evidence = attempts.map((attempt) => attempt.eventId);
      const pseudonym = usernamePseudonyms(testMasterKeys)(counted);
      expect(await alertsOn(evidence)).toMatchObject([
        {
          principal: { kind: "username-pseudonym", id: pseudonym },
          observed: MAX_FAILED_LOGINS + 1,
          evidenceEventIds: evidence,
        },
      ]);

      const patientId = await register(registration);
      expect(await placesHolding(searched)).toEqual([]);
      await erase(patientId);
      expect(await placesHolding(searched)).toEqual([]);
      expect(await alertsOn(evidence)).toHaveLength(1);
    },
  );

  it("typed while they are the patient's: counted by the patient's id, e-mail and number together", async () => {
    const [email, digits] = [newEmail(), newPhoneDigits()];
    const patientId = await register({ email, phone: `+${digits}` });
    const spellings = [email.toUpperCase(), ...phoneSpellings(digits).slice(0, MAX_FAILED_LOGINS)];
    const attempts = await failLogins(spellings);
    expect(attempts.map((attempt) => attempt.patientId)).toEqual(spellings.map(() => patientId));
    const evidence = attempts.map((attempt) => attempt.eventId);
    expect(await alertsOn(evidence)).toMatchObject([
      { principal: { kind: "patient", id: patientId }, observed: MAX_FAILED_LOGINS + 1 },
    ]);
    for (const searched of [email, digits.slice(1)]) expect(await placesHolding(searched)).toEqual([]);

    await erase(patientId);
    for (const searched of [email, digits.slice(1)]) expect(await placesHolding(searched)).toEqual([]);
    expect(await alertsOn(evidence)).toHaveLength(1);
  });
});

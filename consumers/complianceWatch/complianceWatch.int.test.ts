// The compliance watch over synthetic audit streams, one rule at a time, at its boundaries: N events within
// the window raise nothing, N+1 raise one audit.compliance.alert in the outbox, and a redelivered record or a
// further event in the same window raises no second one. API reads count against the actor, records opened
// with events:tail --decrypt against the operator.

import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction, writeTransactionRetries } from "../../db/client.ts";
import { dataKeysForWriting, destroyDataKey } from "../../db/patientKeys.ts";
import { complianceWatchObservations, outbox } from "../../db/schema.ts";
import type { EventData, EventType } from "../../events/index.ts";
import { sealPersonalMetadata } from "../../phi/personalFields.ts";
import { handledBy } from "../../test/consumers/inbox.ts";
import { type StartedConsumer, startTestConsumer } from "../../test/consumers/inProcess.ts";
import { metricValue } from "../../test/consumers/metrics.ts";
import { eventRecord, onPartition, publish, type TestRecord } from "../../test/consumers/records.ts";
import {
  eventually,
  kafkaBrokers,
  newPatientBody,
  testDatabase,
  testMasterKeys,
} from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";
import { registerAlertMetrics } from "./alertMetrics.ts";
import { complianceWatchConsumer, ipPseudonyms, usernamePseudonyms } from "./complianceWatchConsumer.ts";
import { complianceWatchConfig } from "./watchSettings.ts";

const MAX_PATIENTS = 3;
const MAX_PATIENTS_DECRYPTED = 2;
const MAX_REFUSALS = 2;
const MAX_FAILED_LOGINS = 2;

const config = complianceWatchConfig({
  COMPLIANCE_MAX_PATIENTS: MAX_PATIENTS,
  COMPLIANCE_MAX_PATIENTS_DECRYPTED: MAX_PATIENTS_DECRYPTED,
  COMPLIANCE_MAX_REFUSALS: MAX_REFUSALS,
  COMPLIANCE_MAX_FAILED_LOGINS: MAX_FAILED_LOGINS,
  COMPLIANCE_WINDOW_MINUTES: 60,
  COMPLIANCE_WORKING_HOURS: "08:00-18:00",
  COMPLIANCE_TIME_ZONE: "UTC",
});

const db = testDatabase();
let watch: StartedConsumer;
beforeAll(async () => {
  watch = await startTestConsumer(complianceWatchConsumer(config, { masterKeys: testMasterKeys }), {
    db,
    kafkaBrokers: kafkaBrokers(),
  });
  registerAlertMetrics(watch.registry, db);
});
afterAll(async () => {
  await watch.stop();
  await db.$client.end();
});

/** A Monday, 09:00 UTC: inside the working hours. */
const MONDAY_9AM = Date.parse("2026-03-02T09:00:00Z");
const at = (minutes: number) => new Date(MONDAY_9AM + minutes * 60_000).toISOString();

/** An audit record as the relay would publish it, written at `timestamp`, from `ipAddress`. */
function auditRecord<T extends EventType>(
  type: T,
  data: Partial<EventData<T>>,
  timestamp: string,
  ipAddress: string | null = null,
): TestRecord {
  const record = eventRecord(type, data);
  const envelope = JSON.parse(record.message.value);
  envelope.timestamp = timestamp;
  envelope.metadata.ipAddress = ipAddress;
  return { ...record, message: { ...record.message, value: JSON.stringify(envelope) } };
}

const read = (actorId: string, patientId: string, timestamp: string) =>
  auditRecord(
    "audit.data.accessed",
    {
      actorId,
      actorRole: "PROVIDER",
      resourceType: "patient",
      resourceId: patientId,
      patientId,
      action: "READ",
    },
    timestamp,
  );

const refusal = (actorId: string, timestamp: string) =>
  auditRecord("audit.compliance.violation", { actorId, patientId: null }, timestamp);

const failedLogin = (
  username: string,
  timestamp: string,
  ip: string | null = null,
  patientId: string | null = null,
) =>
  auditRecord(
    "audit.login.attempt",
    { userId: null, username, patientId, success: false, reason: "wrong password" },
    timestamp,
    ip,
  );

/** What `npm run events:tail -- --decrypt` records when `operator` opens one of the patient's records. */
const decryption = (operator: string, patientId: string, timestamp: string) =>
  auditRecord("audit.operator.decrypted", { operator, patientId }, timestamp);

/** An operator's login name no other test uses. */
const newOperator = () => `oncall.${randomUUID()}`;

/** Publishes the records and waits until the watch has processed every one (its inbox holds them). */
async function watched(records: TestRecord[]) {
  await publish(kafkaBrokers(), records, db);
  await handledBy(
    db,
    watch.name,
    records.map((record) => record.eventId),
  );
}

/** What the watch counts and reports a username (in its counted form) by. */
const usernamePseudonym = usernamePseudonyms(testMasterKeys);

/** The audit.compliance.alert events in the outbox about this principal. */
async function alertsAbout(principalId: string): Promise<EventData<"audit.compliance.alert">[]> {
  const rows = await db
    .select({ payload: outbox.payload })
    .from(outbox)
    .where(and(eq(outbox.eventType, "audit.compliance.alert"), eq(outbox.aggregateId, principalId)));
  return rows.map((row) => (row.payload as { data: EventData<"audit.compliance.alert"> }).data);
}

describe("one principal reading many patients' records", () => {
  it(`raises nothing for ${MAX_PATIENTS} distinct patients within an hour, one alert for ${MAX_PATIENTS + 1}, and no second one in that window`, async () => {
    const actorId = randomUUID();
    const patients = Array.from({ length: MAX_PATIENTS + 2 }, () => randomUUID());
    const firstReads = patients
      .slice(0, MAX_PATIENTS)
      .map((patientId, i) => read(actorId, patientId, at(i * 10)));
    // Reading the same patient again adds no patient.
    await watched([...firstReads, read(actorId, patients[0] as string, at(35))]);
    expect(await alertsAbout(actorId)).toEqual([]);

    const oneMore = read(actorId, patients[MAX_PATIENTS] as string, at(59));
    await watched([oneMore]);
    expect(await alertsAbout(actorId)).toEqual([
      {
        rule: "many-patients-read",
        principal: { kind: "actor", id: actorId },
        window: { start: at(0), end: at(59) },
        threshold: MAX_PATIENTS,
        observed: MAX_PATIENTS + 1,
        evidenceEventIds: [...firstReads, oneMore].map((record) => record.eventId),
      },
    ]);

    await watched([read(actorId, patients[MAX_PATIENTS + 1] as string, at(50))]);
    expect(await alertsAbout(actorId)).toHaveLength(1);
  });

  it("counts only the reads within one hour of each other", async () => {
    const actorId = randomUUID();
    // Four patients, but the last one exactly an hour after the first: no hour holds more than three.
    await watched([0, 20, 40, 60].map((minute) => read(actorId, randomUUID(), at(minute))));
    expect(await alertsAbout(actorId)).toEqual([]);
  });

  it("raises one alert however often the record that completes the pattern is delivered", async () => {
    const actorId = randomUUID();
    await watched(Array.from({ length: MAX_PATIENTS }, (_, i) => read(actorId, randomUUID(), at(i))));
    const completing = read(actorId, randomUUID(), at(10));
    const duplicates = await metricValue(watch.registry, "consumer_records_duplicate_total");
    // The same record three times, on one partition: the watch handles the first and recognises the others.
    await watched([0, 1, 2].map(() => onPartition(completing, 0)));
    await eventually(
      async () => (await metricValue(watch.registry, "consumer_records_duplicate_total")) === duplicates + 2,
    );
    expect(await alertsAbout(actorId)).toHaveLength(1);
    expect(
      await metricValue(watch.registry, "compliance_alerts_total", { rule: "many-patients-read" }),
    ).toBeGreaterThanOrEqual(1);
  });
});

describe("repeated refusals", () => {
  it(`raise nothing at ${MAX_REFUSALS} within an hour and one alert at ${MAX_REFUSALS + 1}`, async () => {
    const actorId = randomUUID();
    const refusals = [0, 5, 30].map((minute) => refusal(actorId, at(minute)));
    await watched(refusals.slice(0, MAX_REFUSALS));
    expect(await alertsAbout(actorId)).toEqual([]);
    await watched(refusals.slice(MAX_REFUSALS));
    const [alert, ...more] = await alertsAbout(actorId);
    expect(more).toEqual([]);
    expect(alert).toMatchObject({
      rule: "repeated-refusals",
      threshold: MAX_REFUSALS,
      observed: MAX_REFUSALS + 1,
      evidenceEventIds: refusals.map((record) => record.eventId),
    });
  });
});

describe("failed logins", () => {
  it(`for one username: nothing at ${MAX_FAILED_LOGINS}, one alert at ${MAX_FAILED_LOGINS + 1}; successful logins do not count`, async () => {
    const username = `mallory.${randomUUID()}@example.org`;
    const success = auditRecord(
      "audit.login.attempt",
      { userId: randomUUID(), username, success: true, reason: null },
      at(1),
    );
    const pseudonym = usernamePseudonym(username);
    await watched([failedLogin(username, at(0)), success, failedLogin(username, at(2))]);
    expect(await alertsAbout(pseudonym)).toEqual([]);
    await watched([failedLogin(username, at(3))]);
    const alerts = await alertsAbout(pseudonym);
    expect(alerts).toMatchObject([
      {
        rule: "failed-logins-by-username",
        principal: { kind: "username-pseudonym", id: pseudonym },
        observed: 3,
      },
    ]);
    expect(JSON.stringify(alerts)).not.toContain(username);
  });

  it("for one username spelt several ways: counted together, under the spelling all of them fold to", async () => {
    const name = `José.${randomUUID()}`;
    const counted = name.toLowerCase();
    const spellings = [
      name,
      ` ${name.toUpperCase()} `,
      // Full-width letters, and the accent as a combining character.
      name.replace("José", "\uFF2Ao\u0073e\u0301"),
    ];
    await watched(spellings.map((spelling, minute) => failedLogin(spelling, at(minute))));
    const pseudonym = usernamePseudonym(counted);
    expect(await alertsAbout(pseudonym)).toMatchObject([
      {
        rule: "failed-logins-by-username",
        principal: { kind: "username-pseudonym", id: pseudonym },
        observed: 3,
      },
    ]);
  });

  it("for one username spelt with characters that show nothing, or escaped: counted together", async () => {
    const name = `mallory.${randomUUID()}`;
    const spellings = [
      `${name.slice(0, 3)}\u200b${name.slice(3)}\ufe0f`,
      `\u00ad${name}\u2060`,
      name.replace(".", "%2E"),
    ];
    await watched(spellings.map((spelling, minute) => failedLogin(spelling, at(minute))));
    const pseudonym = usernamePseudonym(name);
    expect(await alertsAbout(pseudonym)).toMatchObject([
      {
        rule: "failed-logins-by-username",
        principal: { kind: "username-pseudonym", id: pseudonym },
        observed: 3,
      },
    ]);
  });

  it("for one phone number spelt several ways: counted together, under its digits", async () => {
    const digits = `1415${String(Math.floor(Math.random() * 10 ** 7)).padStart(7, "0")}`;
    const [area, exchange, line] = [digits.slice(1, 4), digits.slice(4, 7), digits.slice(7)];
    const spellings = [
      `+${digits}`,
      ` +1 (${area}) ${exchange}-${line} `,
      `001 ${area}.${exchange}.${line}`,
      // Arabic-Indic and full-width digits, as other keyboards and input methods type them.
      [...`+${digits}`]
        .map((digit) => (digit === "+" ? digit : String.fromCodePoint(0x0660 + Number(digit))))
        .join(""),
      [...digits].map((digit) => String.fromCodePoint(0xff10 + Number(digit))).join(""),
    ];
    await watched(spellings.map((spelling, minute) => failedLogin(spelling, at(minute))));
    const pseudonym = usernamePseudonym(`tel:${digits}`);
    expect(await alertsAbout(pseudonym)).toMatchObject([
      {
        rule: "failed-logins-by-username",
        principal: { kind: "username-pseudonym", id: pseudonym },
        observed: 3,
      },
    ]);
  });

  it(`from one IP address, across usernames: nothing at ${MAX_FAILED_LOGINS}, one alert at ${MAX_FAILED_LOGINS + 1}`, async () => {
    const ip = `10.${[0, 0, 0].map(() => Math.floor(Math.random() * 250)).join(".")}`;
    const attempts = [0, 1, 2].map((minute) => failedLogin(`user.${randomUUID()}`, at(minute), ip));
    const pseudonym = ipPseudonyms(testMasterKeys)(ip);
    await watched(attempts.slice(0, MAX_FAILED_LOGINS));
    expect(await alertsAbout(pseudonym)).toEqual([]);
    await watched(attempts.slice(MAX_FAILED_LOGINS));
    expect(await alertsAbout(pseudonym)).toMatchObject([
      {
        rule: "failed-logins-by-ip",
        principal: { kind: "ip-pseudonym", id: pseudonym },
        observed: 3,
        threshold: MAX_FAILED_LOGINS,
      },
    ]);
    // The address itself is in no table of the watch's, nor in the alert.
    const subjects = await db
      .select({ subject: complianceWatchObservations.subject })
      .from(complianceWatchObservations)
      .where(eq(complianceWatchObservations.subject, `ip-pseudonym:${pseudonym}`));
    expect(subjects).toHaveLength(3);
    expect(JSON.stringify(await alertsAbout(pseudonym))).not.toContain(ip);
  });

  it("on a patient's login: counted by the patient's id, so their e-mail is stored and reported nowhere", async () => {
    const patientId = randomUUID();
    const email = `patient.${randomUUID()}@example.org`;
    await watched([0, 1, 2].map((minute) => failedLogin(email, at(minute), null, patientId)));
    const alerts = await alertsAbout(patientId);
    expect(alerts).toMatchObject([
      { rule: "failed-logins-by-username", principal: { kind: "patient", id: patientId }, observed: 3 },
    ]);
    expect(JSON.stringify(alerts)).not.toContain(email);
    expect(await alertsAbout(email)).toEqual([]);
    const stored = await db
      .select({ subject: complianceWatchObservations.subject })
      .from(complianceWatchObservations)
      .where(eq(complianceWatchObservations.subject, `username:${email}`));
    expect(stored).toEqual([]);
  });

  it("on an erased patient's address: counted by its pseudonym, so the address is stored and reported nowhere", async () => {
    const platform = testPlatform(db);
    const [admin, service] = [await caller("admin"), await caller("service")];
    const post = async (who: Caller, path: string, body?: unknown) => {
      const response = await platform.request(path, {
        method: "POST",
        headers: who.headers({ "Content-Type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      expect(response.status).toBeLessThan(300);
      return (await response.json()) as { id: string; eventId: string };
    };
    const email = `erased.${randomUUID()}@example.org`;
    const { id } = await post(admin, "/patients", newPatientBody({ email }));
    await post(admin, `/patients/${id}/erasure`);
    // What the login endpoint recorded for the address typed three ways, as the watch reads it.
    const usernames: string[] = [];
    for (const typed of [email, email.toUpperCase(), ` ${email} `]) {
      const { eventId } = await post(service, "/internal/login-attempts", {
        ...requestBodies.loginAttempt(),
        username: typed,
      });
      const [row] = await db
        .select({ payload: outbox.payload })
        .from(outbox)
        .where(eq(outbox.eventId, eventId));
      usernames.push((row as { payload: { data: { username: string } } }).payload.data.username);
    }
    const [pseudonym] = usernames;
    expect(new Set(usernames)).toEqual(new Set([pseudonym]));
    await watched(usernames.map((username, minute) => failedLogin(username, at(minute))));
    const counted = usernamePseudonym(pseudonym as string);
    const alerts = await alertsAbout(counted);
    expect(alerts).toMatchObject([
      {
        rule: "failed-logins-by-username",
        principal: { kind: "username-pseudonym", id: counted },
        observed: 3,
      },
    ]);
    expect(JSON.stringify(alerts).toLowerCase()).not.toContain(email);
    const stored = await db
      .select({ subject: complianceWatchObservations.subject })
      .from(complianceWatchObservations)
      .where(eq(complianceWatchObservations.subject, `username-pseudonym:${counted}`));
    expect(stored).toHaveLength(3);
  });
});

describe("reads that should not happen at all", () => {
  it("a read of an erased patient's data, after the erasure, raises an alert; one before it does not", async () => {
    const actorId = randomUUID();
    const patientId = randomUUID();
    await writeTransaction(db, (tx) => destroyDataKey(tx, patientId, new Date(at(30))));
    await watched([read(actorId, patientId, at(29))]);
    expect(await alertsAbout(actorId)).toEqual([]);
    const afterErasure = read(actorId, patientId, at(31));
    await watched([afterErasure]);
    expect(await alertsAbout(actorId)).toMatchObject([
      { rule: "erased-patient-read", threshold: 0, observed: 1, evidenceEventIds: [afterErasure.eventId] },
    ]);
  });

  it("a read made before the patient's erasure and watched after it is counted: only its request metadata is gone", async () => {
    const actorId = randomUUID();
    const patientId = randomUUID();
    const keys = await writeTransaction(db, (tx) => dataKeysForWriting(tx, [patientId], testMasterKeys));
    // As the write path writes it: the request's IP address and user agent sealed under the patient's key.
    const record = read(actorId, patientId, at(10));
    const envelope = JSON.parse(record.message.value);
    envelope.metadata = sealPersonalMetadata(
      record.eventId,
      { ...envelope.metadata, ipAddress: "10.1.2.3", userAgent: "curl/8.5.0" },
      keys.get(patientId) as Buffer,
    );
    await writeTransaction(db, (tx) => destroyDataKey(tx, patientId, new Date(at(30))));
    await watched([{ ...record, message: { ...record.message, value: JSON.stringify(envelope) } }]);
    const observed = await db
      .select({ eventId: complianceWatchObservations.eventId })
      .from(complianceWatchObservations)
      .where(eq(complianceWatchObservations.subject, `actor:${actorId}`));
    expect(observed).toEqual([{ eventId: record.eventId }]);
  });

  it("a read outside the working hours raises one alert for the hour; reads within them none", async () => {
    const actorId = randomUUID();
    const evening = Date.parse("2026-03-02T18:00:00Z");
    const inHours = read(actorId, randomUUID(), new Date(evening - 60_000).toISOString());
    await watched([inHours]);
    expect(await alertsAbout(actorId)).toEqual([]);
    const late = [0, 10].map((minute) =>
      read(actorId, randomUUID(), new Date(evening + minute * 60_000).toISOString()),
    );
    await watched([late[0] as TestRecord]);
    const expected = { rule: "out-of-hours-read", observed: 1, evidenceEventIds: [late[0]?.eventId] };
    expect(await alertsAbout(actorId)).toMatchObject([expected]);
    // The next one within the hour is part of the pattern already reported.
    await watched([late[1] as TestRecord]);
    expect(await alertsAbout(actorId)).toMatchObject([expected]);
  });
});

describe("an operator opening patients' sealed data with events:tail --decrypt", () => {
  it(`raises nothing for ${MAX_PATIENTS_DECRYPTED} distinct patients within an hour, one alert naming the operator for ${MAX_PATIENTS_DECRYPTED + 1}, and no second one in that window`, async () => {
    const operator = newOperator();
    const patients = Array.from({ length: MAX_PATIENTS_DECRYPTED + 2 }, () => randomUUID());
    const firstOpenings = patients
      .slice(0, MAX_PATIENTS_DECRYPTED)
      .map((patientId, i) => decryption(operator, patientId, at(i * 10)));
    // Another record of the same patient opens no other patient's data.
    await watched([...firstOpenings, decryption(operator, patients[0] as string, at(30))]);
    expect(await alertsAbout(operator)).toEqual([]);

    const oneMore = decryption(operator, patients[MAX_PATIENTS_DECRYPTED] as string, at(45));
    await watched([oneMore]);
    expect(await alertsAbout(operator)).toEqual([
      {
        rule: "many-patients-decrypted",
        principal: { kind: "operator", id: operator },
        window: { start: at(0), end: at(45) },
        threshold: MAX_PATIENTS_DECRYPTED,
        observed: MAX_PATIENTS_DECRYPTED + 1,
        evidenceEventIds: [...firstOpenings, oneMore].map((record) => record.eventId),
      },
    ]);
    expect(
      await metricValue(watch.registry, "compliance_alerts_total", { rule: "many-patients-decrypted" }),
    ).toBeGreaterThanOrEqual(1);

    await watched([decryption(operator, patients[MAX_PATIENTS_DECRYPTED + 1] as string, at(50))]);
    expect(await alertsAbout(operator)).toHaveLength(1);
  });

  it("are counted apart from an actor's reads, even an actor whose id is the operator's login name", async () => {
    const operator = randomUUID();
    const openings = Array.from({ length: MAX_PATIENTS_DECRYPTED }, (_, i) =>
      decryption(operator, randomUUID(), at(i)),
    );
    // Together over either threshold; each under its own, so no alert is due.
    const reads = Array.from({ length: MAX_PATIENTS }, (_, i) => read(operator, randomUUID(), at(i)));
    await watched([...openings, ...reads]);
    expect(await alertsAbout(operator)).toEqual([]);
    const observed = await db
      .select({ eventId: complianceWatchObservations.eventId })
      .from(complianceWatchObservations)
      .where(eq(complianceWatchObservations.subject, `operator:${operator}`));
    expect(observed.map((row) => row.eventId).sort()).toEqual(
      openings.map((record) => record.eventId).sort(),
    );
  });

  it("outside the working hours raises an out-of-hours alert naming the operator; within them none", async () => {
    const operator = newOperator();
    const evening = Date.parse("2026-03-02T18:00:00Z");
    await watched([decryption(operator, randomUUID(), new Date(evening - 60_000).toISOString())]);
    expect(await alertsAbout(operator)).toEqual([]);
    const late = decryption(operator, randomUUID(), new Date(evening).toISOString());
    await watched([late]);
    expect(await alertsAbout(operator)).toMatchObject([
      {
        rule: "out-of-hours-read",
        principal: { kind: "operator", id: operator },
        threshold: 0,
        observed: 1,
        evidenceEventIds: [late.eventId],
      },
    ]);
  });
});

describe("a busy principal", () => {
  it("has its reads, spread over the partitions, counted one after another: no transaction fails and retries", async () => {
    const actorId = randomUUID();
    const patients = Array.from({ length: MAX_PATIENTS }, () => randomUUID());
    // Audit records are keyed by event id: these 60 land on every partition, handled three at a time.
    const reads = Array.from({ length: 60 }, (_, index) =>
      read(actorId, patients[index % MAX_PATIENTS] as string, at(index % 50)),
    );
    // This process's transactions (the watch runs in it) retried after a serialization failure, so far.
    const retriedBefore = writeTransactionRetries().serialization;
    await watched(reads);
    expect(writeTransactionRetries().serialization).toBe(retriedBefore);
    const observed = await db
      .select({ eventId: complianceWatchObservations.eventId })
      .from(complianceWatchObservations)
      .where(eq(complianceWatchObservations.subject, `actor:${actorId}`));
    expect(observed).toHaveLength(60);
    expect(await alertsAbout(actorId)).toEqual([]);
  });
});

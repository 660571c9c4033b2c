// Every record the platform writes is a message of the published /asyncapi.json: traffic through the real
// API (every event type a request causes, and the reminder scheduler), the compliance watch's alert, a
// consumer's dead letters (poison, and a record whose attempts ran out), a re-driven record, an operator's
// replay and an operator's decrypting tail's access records, each read back from its topic and checked against the document the platform serves: payload, key and
// headers. Every message of the document is seen at least once. It prints the records validated per topic.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerAlertMetrics } from "../consumers/complianceWatch/alertMetrics.ts";
import { complianceWatchConsumer } from "../consumers/complianceWatch/complianceWatchConsumer.ts";
import { complianceWatchConfig } from "../consumers/complianceWatch/watchSettings.ts";
import { redriveDeadLetters } from "../consumers/deadLetters/deadLetterQueue.ts";
import type { TransactionalConsumer } from "../consumers/runtime/consumerDefinition.ts";
import { eventTopics } from "../events/docs/asyncApiDocument.ts";
import { deadLetterTopicName } from "../events/index.ts";
import { createKafka } from "../kafka/client.ts";
import type { OutboxRelay } from "../relay/relay.ts";
import { PublishedEvents, type PublishedRecord, servedAsyncApi } from "../test/asyncapiRecords.ts";
import { type ScriptProcess, spawnScript } from "../test/childProcess.ts";
import { type StartedConsumer, startTestConsumer } from "../test/consumers/inProcess.ts";
import { publish } from "../test/consumers/records.ts";
import { type Call, causeEveryEvent } from "../test/everyEventTraffic.ts";
import { eventually, kafkaBrokers, startRelay, testDatabase, testMasterKeys } from "../test/fixtures.ts";
import { containsAll, type TappedRecord, type TopicTap, tapTopic } from "../test/kafkaTap.ts";
import { runReplay } from "../test/replayCommand.ts";
import { type ServedApp, serveApp } from "../test/servedApp.ts";
import { caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "published-events-test" });
const admin = kafka.admin();
const allTopics = [...eventTopics, ...eventTopics.map(deadLetterTopicName)];
const taps = new Map<string, TopicTap>();
let server: ServedApp;
let base: string;
let relay: OutboxRelay;
let watch: StartedConsumer;
let parking: StartedConsumer;
let parkingStopped = false;
let startPosition: string;
let tail: ScriptProcess | undefined;

/** The patient whose sign-up a consumer fails on until it is "fixed": their record is dead-lettered. */
const patient = await caller("patient");
let handlerFixed = false;
const PARKING_CONSUMER = `published-events-${randomUUID().slice(0, 8)}`;
const parkingConsumer: TransactionalConsumer = {
  kind: "transactional",
  name: PARKING_CONSUMER,
  topics: eventTopics,
  handlers: {
    "patient.created": async (event) => {
      if (!handlerFixed && event.data.userId === patient.userId) throw new RangeError("template missing");
    },
  },
};

beforeAll(async () => {
  await admin.connect();
  for (const topic of allTopics) taps.set(topic, await tapTopic(kafkaBrokers(), topic));
  const { rows } = await db.execute<{ position: string }>(
    sql`SELECT coalesce(max(position), 0)::text AS position FROM outbox`,
  );
  startPosition = rows[0]?.position ?? "0";
  relay = startRelay();
  // The lowest threshold the configuration takes (1): the auditor's second refused read raises the alert.
  const config = complianceWatchConfig({
    COMPLIANCE_MAX_PATIENTS: 1000,
    COMPLIANCE_MAX_PATIENTS_DECRYPTED: 1000,
    COMPLIANCE_MAX_REFUSALS: 1,
    COMPLIANCE_MAX_FAILED_LOGINS: 1000,
    COMPLIANCE_WINDOW_MINUTES: 60,
    COMPLIANCE_WORKING_HOURS: "00:00-23:59",
    COMPLIANCE_TIME_ZONE: "UTC",
  });
  watch = await startTestConsumer(complianceWatchConsumer(config, { masterKeys: testMasterKeys }), {
    db,
    kafkaBrokers: kafkaBrokers(),
  });
  registerAlertMetrics(watch.registry, db);
  parking = await startTestConsumer(parkingConsumer, {
    db,
    kafkaBrokers: kafkaBrokers(),
    name: PARKING_CONSUMER,
  });
  server = await serveApp(testPlatform(db));
  base = server.base;
});

afterAll(async () => {
  tail?.child.kill("SIGTERM");
  await tail?.exited;
  server.close();
  if (!parkingStopped) await parking.stop();
  await watch.stop();
  await relay.stop();
  await admin.disconnect();
  await db.$client.end();
});

const call: Call = async (by, method, path, body) => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: by.headers({
      "Content-Type": "application/json",
      "User-Agent": "published-events-test/1.0",
      traceparent: `00-${randomUUID().replaceAll("-", "")}-${randomUUID().replaceAll("-", "").slice(0, 16)}-01`,
    }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
};

type OutboxRow = { eventId: string; eventType: string; topic: string };

async function committedSinceStart(): Promise<OutboxRow[]> {
  const result = await db.execute<OutboxRow>(sql`
    SELECT event_id::text AS "eventId", event_type AS "eventType", topic FROM outbox
     WHERE position > ${startPosition}::bigint ORDER BY position`);
  return result.rows;
}

const tap = (topic: string) => taps.get(topic) as TopicTap;
const poisonKey = `poison-${randomUUID()}`;

describe("every record the platform writes", () => {
  it("is a message of the published /asyncapi.json, and every message of the document is written", async () => {
    // A fresh checker: its counts are this test's alone.
    const published = new PublishedEvents(await servedAsyncApi());
    const checked: PublishedRecord[] = [];

    // An operator's tail that opens the patients' records (`npm run events:tail -- --decrypt`): each record it
    // opens is recorded as an audit event.
    tail = spawnScript("scripts/tail-events.ts", { args: ["patient-events", "--decrypt"] });
    await tail.printed(/^tailing patient-events/m);
    await causeEveryEvent(call, db, { patient });
    // What consumers add through the outbox: the compliance watch's alert on the auditor's refusals.
    await eventually(async () =>
      (await committedSinceStart()).some((row) => row.eventType === "audit.compliance.alert"),
    );
    await tail.printed(/^recorded as audit\.operator\.decrypted /m);
    tail.child.kill("SIGTERM");
    await tail.exited;
    tail = undefined;

    // What a consumer parks: a poison record on every topic, and the patient's sign-up after three attempts.
    await publish(
      kafkaBrokers(),
      eventTopics.map((topic) => ({
        topic,
        eventId: randomUUID(),
        message: { key: poisonKey, value: "{ not json", headers: {} },
      })),
      db,
    );
    const committed = await committedSinceStart();
    const signUp = committed.find((row) => row.eventType === "patient.created");
    expect(signUp).toBeDefined();
    const parked = async (topic: string, done: (records: TappedRecord[]) => boolean) =>
      (await tap(topic).collect({ done, settleMs: 0 })).filter(
        (record) => record.headers["dlq.consumer"] === PARKING_CONSUMER,
      );
    for (const topic of eventTopics) {
      const dlq = deadLetterTopicName(topic);
      const letters = await parked(
        dlq,
        (records) =>
          records.some((record) => record.key === poisonKey) &&
          (topic !== "patient-events" || records.some((record) => record.eventId === signUp?.eventId)),
      );
      expect(
        letters.some((letter) => letter.key === poisonKey),
        `${dlq}: the poison record`,
      ).toBe(true);
      // This test's own: on a shared broker the consumer also parks other runs' records it cannot open.
      checked.push(
        ...letters.filter((letter) => letter.key === poisonKey || letter.eventId === signUp?.eventId),
      );
    }
    // Parked what it had to: stopped, so that it parks nobody else's records while the test goes on.
    await parking.stop();
    parkingStopped = true;

    // Re-driven once the handler is fixed: back on its topic, with the dead letter it came from.
    handlerFixed = true;
    await redriveDeadLetters(kafka, admin, db, "patient-events.dlq", {
      eventIds: new Set([signUp?.eventId ?? ""]),
    });

    // An operator's replay of the sign-up (`npm run replay`), which the history records as an audit event.
    // Refused until the relay's checkpoint has passed the row; a refused run publishes and records nothing.
    const { rows: signUpRows } = await db.execute<{ position: string }>(
      sql`SELECT position::text AS position FROM outbox WHERE event_id = ${signUp?.eventId}::uuid`,
    );
    const signUpPosition = signUpRows[0]?.position ?? "0";
    await eventually(
      async () =>
        (await runReplay(["--from-position", signUpPosition, "--to-position", signUpPosition, "--yes"]))
          .code === 0,
    );
    committed.push(
      ...(await committedSinceStart()).filter((row) => row.eventType === "audit.history.replayed"),
    );

    for (const topic of eventTopics) {
      const ids = committed.filter((row) => row.topic === topic).map((row) => row.eventId);
      const redriven = (records: TappedRecord[]) =>
        topic !== "patient-events" ||
        records.some((record) => record.headers["dlq.redriven.from"] && record.eventId === signUp?.eventId);
      const containsOurs = containsAll(ids);
      const records = await tap(topic).collect({
        done: (seen) => containsOurs(seen) && redriven(seen),
        settleMs: 0,
      });
      const ours = new Set(ids);
      checked.push(...records.filter((record) => ours.has(record.eventId)));
    }
    expect(
      checked.some((record) => record.headers["dlq.redriven.from"] !== undefined),
      "the re-driven record",
    ).toBe(true);

    const problems = checked.flatMap((record) =>
      published
        .problems(record)
        .map((problem) => `${record.topic} ${record.headers.eventType ?? record.key}: ${problem}`),
    );
    expect(problems).toEqual([]);
    expect(published.messageIds().filter((id) => !published.seenMessages.has(id))).toEqual([]);

    console.table(
      allTopics.map((topic) => ({ topic, "records validated": published.validatedByTopic.get(topic) ?? 0 })),
    );
    console.log(
      `published-events: ${checked.length} records validated, ${published.seenMessages.size} of ${published.messageIds().length} messages seen`,
    );
  });
});

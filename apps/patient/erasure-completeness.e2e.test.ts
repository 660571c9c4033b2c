// Erasure is complete: a patient leaves their personal data everywhere the platform keeps anything (state,
// history, kept responses, the notification mailbox, the consumers' projections, every topic and its dead
// letters, the auditors' exports, the logs), each value unique to them; after POST /patients/:id/erasure a
// search of every table and column, every record's key, value and headers (every record published since the
// test began: none before can hold a value made for it), every export and every log line finds none of those
// values readable. The same search, run before, finds them: it can fail.
import { randomInt, randomUUID } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notificationDeliveryConsumer } from "../../consumers/notifications/notificationDelivery.ts";
import { notificationRequestsConsumer } from "../../consumers/notifications/notificationRequests.ts";
import { recordingTransport } from "../../consumers/notifications/transports/recordingTransport.ts";
import { patientDirectoryConsumer } from "../../consumers/patientDirectory/patientDirectoryConsumer.ts";
import { topics } from "../../events/catalog.ts";
import { createKafka } from "../../kafka/client.ts";
import { readTopicRange } from "../../kafka/readTopicRange.ts";
import { createLogger } from "../../observability/logger.ts";
import type { OutboxRelay } from "../../relay/relay.ts";
import { type StartedConsumer, startTestConsumer } from "../../test/consumers/inProcess.ts";
import {
  eventually,
  kafkaBrokers,
  newPatientBody,
  startRelay,
  testDatabase,
  testMasterKeys,
} from "../../test/fixtures.ts";
import { relayCaughtUp } from "../../test/relayCheckpoint.ts";
import { type ServedApp, serveApp } from "../../test/servedApp.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
/** Every log line of the platform, the relay and the consumers during the test. */
const logLines: string[] = [];
const log = createLogger({ level: "trace", destination: { write: (line: string) => logLines.push(line) } });
const app = testPlatform(db, { log });
let server: ServedApp;
let port: number;
let relay: OutboxRelay;
const consumers: StartedConsumer[] = [];

/** What makes this run's values unique: no other data in the database or on the broker holds them. */
const tag = randomUUID().replaceAll("-", "").slice(0, 12);
/** The patient's own device: a loopback address of its own and a user agent nobody else sends. */
const patientDevice = {
  address: `127.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(2, 255)}`,
  userAgent: `ErasureProbe/${tag}`,
};

beforeAll(async () => {
  server = await serveApp(app);
  port = server.port;
  relay = startRelay({ log });
  // The earlier files' events no relay published (thousands, some booking patients no directory saw, whose
  // notifications wait for them) go out before the consumers start at the topics' ends: they are not this
  // test's to consume. Consumed, they held it for 51 s of its 100 s wait in a run of the suite.
  await eventually(() => relayCaughtUp(db), 120_000);
  const transport = recordingTransport(db);
  const definitions = [
    patientDirectoryConsumer,
    notificationRequestsConsumer({ masterKeys: testMasterKeys }),
    notificationDeliveryConsumer({ transports: { email: transport, sms: transport }, log }),
  ];
  for (const definition of definitions) {
    consumers.push(await startTestConsumer(definition, { db, kafkaBrokers: kafkaBrokers(), log }));
  }
});

afterAll(async () => {
  for (const consumer of consumers) await consumer.stop();
  await relay.stop();
  server.close();
  await db.$client.end();
});

interface Answer {
  status: number;
  text: string;
  /** The JSON body, when there is one. */
  body: Record<string, unknown>;
}

function answer(status: number, text: string): Answer {
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text);
  } catch {
    // NDJSON, CSV or nothing: the text is the answer.
  }
  return { status, text, body };
}

/** A request from the patient's device, over a real connection (so the service sees its address). */
function fromDevice(
  who: Caller,
  method: string,
  path: string,
  body?: unknown,
  headers = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: "127.0.0.1",
        port,
        localAddress: patientDevice.address,
        method,
        path,
        headers: who.headers({
          "User-Agent": patientDevice.userAgent,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
          ...headers,
        }),
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => {
          text += chunk;
        });
        response.on("end", () => resolve(answer(response.statusCode ?? 0, text)));
      },
    );
    request.on("error", reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A request from inside the platform (no address, no user agent): staff work that is about no patient. */
async function inProcess(who: Caller, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await app.request(path, {
    method,
    headers: who.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return answer(response.status, await response.text());
}

const created = (reply: Answer) => {
  expect(reply.status, reply.text).toBeLessThan(300);
  return reply.body;
};

// ---------------------------------------------------------------------------------------------------------
// The search

interface Hit {
  where: string;
  value: string;
}

/** Every table of the database, every row cast to text (all columns, whatever their type), and every bytea. */
async function searchTables(values: readonly string[]): Promise<Hit[]> {
  const { rows: columns } = await db.$client.query<{ table: string; column: string; type: string }>(
    `SELECT c.table_name AS table, c.column_name AS column, c.data_type AS type
       FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
      ORDER BY c.table_name, c.ordinal_position`,
  );
  expect(columns.map((column) => column.table)).toEqual(
    expect.arrayContaining(["patients", "outbox", "idempotency_keys", "recorded_notifications"]),
  );
  const hits: Hit[] = [];
  const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;
  for (const table of new Set(columns.map((column) => column.table))) {
    // Each column as text, case-insensitively (a username typed in capitals is the same e-mail address).
    for (const { column } of columns.filter((candidate) => candidate.table === table)) {
      const { rows } = await db.$client.query<{ value: string }>(
        `SELECT value FROM unnest($1::text[]) AS value
          WHERE EXISTS (SELECT 1 FROM ${quoted(table)} row
                         WHERE strpos(lower(row.${quoted(column)}::text), lower(value)) > 0)`,
        [values],
      );
      hits.push(...rows.map(({ value }) => ({ where: `table ${table}.${column}`, value })));
    }
    // Bytes as bytes: plaintext kept in a bytea column shows as hex in its text form.
    for (const { column } of columns.filter((c) => c.table === table && c.type === "bytea")) {
      const { rows } = await db.$client.query<{ value: string }>(
        `SELECT value FROM unnest($1::text[]) AS value
          WHERE EXISTS (SELECT 1 FROM ${quoted(table)} row
                         WHERE position(convert_to(value, 'UTF8') IN row.${quoted(column)}) > 0)`,
        [values],
      );
      hits.push(...rows.map(({ value }) => ({ where: `table ${table}.${column} (bytes)`, value })));
    }
  }
  return hits;
}

/** Each topic the catalog declares, by name, with where each of its partitions ends now. */
async function topicEnds(): Promise<Map<string, Map<number, bigint>>> {
  const admin = createKafka({ brokers: kafkaBrokers(), clientId: "erasure-search" }).admin();
  await admin.connect();
  try {
    const ends = new Map<string, Map<number, bigint>>();
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic.name);
      ends.set(topic.name, new Map(offsets.map((o) => [o.partition, BigInt(o.high)])));
    }
    return ends;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Every record of every topic the catalog declares (the event topics and their dead-letter topics) from `since`
 * (topicEnds before the patient existed: no record before it can hold a value made for this run) to the end.
 */
async function searchTopics(
  values: readonly string[],
  since: Map<string, Map<number, bigint>>,
): Promise<Hit[]> {
  const kafka = createKafka({ brokers: kafkaBrokers(), clientId: "erasure-search" });
  const hits: Hit[] = [];
  const ends = await topicEnds();
  for (const topic of topics) {
    const from = since.get(topic.name) ?? new Map<number, bigint>();
    const to = ends.get(topic.name) ?? new Map<number, bigint>();
    for (const { partition, message } of await readTopicRange(kafka, topic.name, from, to, 120_000)) {
      const where = `${topic.name} partition ${partition} offset ${message.offset}`;
      const parts = {
        key: message.key?.toString() ?? "",
        value: message.value?.toString() ?? "",
        headers: Object.entries(message.headers ?? {})
          .map(([name, header]) => `${name}=${String(header)}`)
          .join("\n"),
      };
      for (const [part, text] of Object.entries(parts)) hits.push(...found(text, values, `${where} ${part}`));
    }
  }
  return hits;
}

function found(text: string, values: readonly string[], where: string): Hit[] {
  const lower = text.toLowerCase();
  return values.filter((value) => lower.includes(value.toLowerCase())).map((value) => ({ where, value }));
}

// ---------------------------------------------------------------------------------------------------------

describe("erasure is complete", () => {
  it("leaves none of the patient's values readable in any table, topic, export or log", async () => {
    const [admin, auditor, service] = await Promise.all([
      caller("admin"),
      caller("auditor"),
      caller("service"),
    ]);
    const patientLogin = await caller("patient");
    // The topics are searched from here: every record of this patient's is published after it.
    const topicsBefore = await topicEnds();
    const body = newPatientBody({
      firstName: `Ottoline${tag}`,
      lastName: `Quennell${tag}`,
      dateOfBirth: `19${randomInt(10, 40)}-0${randomInt(1, 9)}-1${randomInt(1, 9)}`,
      email: `ottoline.${tag}@erasure.example.org`,
      phone: `+1415${randomInt(1_000_000, 9_999_999)}`,
      insuranceInfo: {
        provider: `Insurer${tag}`,
        policyNumber: `POLICY${tag}`,
        effectiveDate: "2024-01-01",
        expiryDate: "2026-12-31",
      },
      medicalConditions: [`condition${tag}`],
      allergies: [`allergy${tag}`],
    });
    const personal = {
      notes: `notes${tag}`,
      address: `${tag} Home Visit Lane`,
      failureReason: `page 2 names failure${tag}`,
      fileName: `scan${tag}.pdf`,
      storageUrl: `https://files.example.org/store${tag}/scan.pdf`,
      documentSummary: `summary${tag}`,
      label: `label${tag}`,
      insight: `insight${tag}`,
      subject: `subject${tag}`,
      newAllergy: `allergy2${tag}`,
    };
    const values = [
      body.firstName,
      body.lastName,
      body.dateOfBirth,
      body.email,
      body.phone,
      body.insuranceInfo.provider,
      body.insuranceInfo.policyNumber,
      ...body.medicalConditions,
      ...body.allergies,
      ...Object.values(personal),
      patientDevice.address,
      patientDevice.userAgent,
    ];

    // The patient registers themselves (kept for an Idempotency-Key retry, which is replayed), reads and
    // changes their record from their own device.
    const idempotencyKey = randomUUID();
    const patient = created(
      await fromDevice(patientLogin, "POST", "/patients", body, { "Idempotency-Key": idempotencyKey }),
    );
    const patientId = patient.id as string;
    const replay = await fromDevice(patientLogin, "POST", "/patients", body, {
      "Idempotency-Key": idempotencyKey,
    });
    expect(replay.body).toMatchObject({ id: patientId });
    created(await fromDevice(patientLogin, "GET", `/patients/${patientId}`));
    created(
      await fromDevice(patientLogin, "PATCH", `/patients/${patientId}`, { allergies: [personal.newAllergy] }),
    );
    created(await fromDevice(patientLogin, "PUT", `/patients/${patientId}/consent`, { research: true }));

    // Their care: a booking with notes, a document with its processing result, a prediction and an insight,
    // a message to them, and a login attempt with their e-mail typed in capitals.
    const clinician = created(
      await inProcess(
        admin,
        "POST",
        "/providers",
        requestBodies.provider({ email: `${randomUUID()}@example.org` }),
      ),
    );
    created(
      await fromDevice(admin, "POST", "/appointments", {
        ...requestBodies.booking(patientId, clinician.id as string),
        location: { type: "IN_PERSON", address: personal.address },
        notes: personal.notes,
      }),
    );
    const document = created(
      await fromDevice(patientLogin, "POST", "/documents", {
        ...requestBodies.document(patientId),
        fileName: personal.fileName,
        storageUrl: personal.storageUrl,
      }),
    );
    const processing = requestBodies.processingResult() as Record<string, unknown>;
    // A first run that failed, then the one that extracted a summary.
    created(
      await inProcess(service, "POST", `/documents/${document.id}/processing-results`, {
        processor: processing.processor,
        processedAt: processing.processedAt,
        status: "FAILED",
        failureReason: personal.failureReason,
      }),
    );
    created(
      await inProcess(service, "POST", `/documents/${document.id}/processing-results`, {
        ...processing,
        extracted: { ...(processing.extracted as object), summary: personal.documentSummary },
      }),
    );
    const model = created(await inProcess(admin, "POST", "/ai/models", requestBodies.model()));
    created(
      await inProcess(service, "POST", "/ai/predictions", {
        ...requestBodies.prediction(model.id as string, patientId),
        label: personal.label,
      }),
    );
    created(
      await inProcess(service, "POST", "/ai/insights", {
        ...requestBodies.insight(patientId),
        summary: personal.insight,
      }),
    );
    created(
      await inProcess(admin, "POST", "/notifications/email", {
        ...requestBodies.email(patientId),
        to: body.email,
        subject: personal.subject,
      }),
    );
    created(
      await inProcess(service, "POST", "/internal/login-attempts", {
        ...requestBodies.loginAttempt(),
        username: body.email.toUpperCase(),
      }),
    );
    const exportOf = (query: string) => inProcess(auditor, "GET", `/audit/events/export?${query}`);

    // The consumers have projected and delivered every message (the welcome e-mail, the booking's e-mail and
    // text, the requested e-mail), so that none is still in flight when the erasure runs.
    // This wait failed twice in CI (of about ten runs) when the directory projected the patient later than
    // the booking's notifications could wait (now they wait for it). Should it fail again, it says which
    // notifications were recorded and what the relay and the consumers warned of meanwhile.
    await eventually(async () => {
      const { rows } = await db.$client.query("SELECT 1 FROM recorded_notifications WHERE patient_id = $1", [
        patientId,
      ]);
      return rows.length >= 4;
    }, 100_000).catch(async (error: unknown) => {
      const { rows } = await db.$client.query(
        "SELECT channel, notification_id FROM recorded_notifications WHERE patient_id = $1",
        [patientId],
      );
      const { rows: stages } = await db.$client.query(
        `SELECT (SELECT count(*) FROM patient_directory WHERE patient_id = $1) AS "inDirectory",
                (SELECT json_agg(json_build_object('type', event_type, 'position', position))
                   FROM outbox WHERE patient_id = $1 OR aggregate_id = $1::text) AS "events",
                (SELECT max(position) FROM relay_checkpoints) AS "relayedUpTo"`,
        [patientId],
      );
      // Warnings, and the waits for a prerequisite (logged as information: a projection behind is no fault).
      const noted = logLines.filter((line) => {
        const { level, cause } = JSON.parse(line) as { level: number; cause?: string };
        return level >= 40 || cause === "prerequisite";
      });
      throw new Error(
        `recorded so far: ${JSON.stringify(rows)}; stages: ${JSON.stringify(stages)}; the relay's and ` +
          `consumers' warnings and waits:\n${noted.slice(0, 60).join("")}`,
        { cause: error },
      );
    });

    // Before: the search finds the values where they belong, so it could find them after.
    const before = await searchTables(values);
    for (const where of [
      "table patients.last_name",
      "table recorded_notifications.recipient",
      "table patient_directory.email",
      "table idempotency_keys.response_body",
      "table documents.storage_url",
    ]) {
      expect(
        before.map((hit) => hit.where),
        where,
      ).toContain(where);
    }

    const erased = await inProcess(admin, "POST", `/patients/${patientId}/erasure`);
    expect(erased.status).toBe(200);
    const report = erased.body as { removed: Record<string, number> };
    expect(report).toMatchObject({
      removed: {
        patients: 1,
        appointments: 1,
        documents: 1,
        predictions: 1,
        insights: 1,
        storedResponses: 1,
      },
      documentFilesToDelete: [personal.storageUrl],
    });
    expect(report.removed.recordedNotifications).toBe(4);
    // Their address typed at a login after the erasure names no patient: it must not come back in plain text.
    created(
      await inProcess(service, "POST", "/internal/login-attempts", {
        ...requestBodies.loginAttempt(),
        username: ` ${body.email.toUpperCase()} `,
      }),
    );

    // Everything written up to the erasure has reached Kafka, and the directory has forgotten the patient.
    const { rows: last } = await db.$client.query<{ position: string }>(
      "SELECT max(position)::text AS position FROM outbox",
    );
    await eventually(async () => {
      const { rows } = await db.$client.query(
        "SELECT 1 FROM relay_checkpoints WHERE position >= $1::bigint",
        [last[0]?.position],
      );
      return rows.length > 0;
    }, 120_000);
    await eventually(async () => {
      const { rows } = await db.$client.query(
        "SELECT 1 FROM patient_directory WHERE patient_id = $1 AND deleted_at IS NOT NULL AND email IS NULL",
        [patientId],
      );
      return rows.length > 0;
    }, 120_000);

    // After: nothing readable anywhere.
    const exports = {
      "the patient's NDJSON export": await exportOf(`patientId=${patientId}&format=ndjson`),
      "the whole history as NDJSON": await exportOf("format=ndjson"),
      "the whole history as CSV": await exportOf("format=csv"),
    };
    const hits = [
      ...(await searchTables(values)),
      ...(await searchTopics(values, topicsBefore)),
      ...Object.entries(exports).flatMap(([where, reply]) => {
        expect(reply.status, where).toBe(200);
        return found(reply.text, values, where);
      }),
      ...found(logLines.join("\n"), values, "logs"),
    ];
    expect(hits).toEqual([]);
    // The history still holds the patient's events, sealed: the export is not empty by accident.
    expect(exports["the patient's NDJSON export"].text.split("\n").length).toBeGreaterThan(10);
  }, 300_000); // a whole care journey through three consumers, then a search of everything, on a busy machine
});

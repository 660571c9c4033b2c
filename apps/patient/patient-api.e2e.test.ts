// The patient service over real HTTP, with the relay running: each write's event reaches patient-events once,
// with the record contract of docs/architecture.md; refused requests leave no state, no outbox row and no
// record.
import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Admin } from "../../kafka/client.ts";
import { createKafka } from "../../kafka/client.ts";
import type { OutboxRelay } from "../../relay/relay.ts";
import { expectPublished } from "../../test/asyncapiRecords.ts";
import {
  decrypted,
  kafkaBrokers,
  newPatientBody,
  silentLog,
  startRelay,
  testDatabase,
  testMasterKeys,
} from "../../test/fixtures.ts";
import { type TappedRecord, tapTopic } from "../../test/kafkaTap.ts";
import { type ServedApp, serveApp } from "../../test/servedApp.ts";
import { type Caller, caller, testVerifier } from "../../test/tokens.ts";
import { createPlatformApp } from "../platform.ts";

const db = testDatabase();
let admin: Admin;
let server: ServedApp;
let base: string;
let relay: OutboxRelay;
/** The patient service's routes need a token; an admin reaches every patient. */
let staff: Caller;

beforeAll(async () => {
  admin = createKafka({ brokers: kafkaBrokers(), clientId: "patient-api-test" }).admin();
  await admin.connect();
  const registry = new Registry();
  staff = await caller("admin");
  const app = createPlatformApp({
    db,
    kafkaAdmin: admin,
    log: silentLog,
    registry,
    verifyToken: testVerifier,
    masterKeys: testMasterKeys,
  });
  relay = startRelay({ registry });
  server = await serveApp(app);
  base = server.base;
});

afterAll(async () => {
  server.close();
  await relay.stop();
  await admin.disconnect();
  await db.$client.end();
});

function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}${path}`, {
    method,
    headers: staff.headers({
      "Content-Type": "application/json",
      "User-Agent": "patient-api-test/1.0",
      ...headers,
    }),
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}

const recordsFor = (records: TappedRecord[], correlationId: string) =>
  records.filter((record) => record.headers.correlationId === correlationId);

describe("POST /patients", () => {
  it("creates the patient and publishes one patient.created record with the right key, headers and envelope", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const correlationId = randomUUID();
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const body = newPatientBody();
    const response = await call("POST", "/patients", body, {
      "X-Correlation-Id": correlationId,
      traceparent,
    });
    expect(response.status).toBe(201);
    expect(response.headers.get("x-correlation-id")).toBe(correlationId);
    const patient = (await response.json()) as { id: string };
    expect(response.headers.get("location")).toBe(`/patients/${patient.id}`);

    const records = recordsFor(
      await tap.collect({ done: (seen) => recordsFor(seen, correlationId).length >= 1, settleMs: 1_000 }),
      correlationId,
    );
    expect(records).toHaveLength(1);
    expectPublished(records);
    const [record] = records as [TappedRecord];
    // On Kafka the personal fields are ciphertext; a consumer with access opens them with the patient's key.
    for (const value of [body.lastName, body.email, body.dateOfBirth, body.insuranceInfo.policyNumber])
      expect(record.value).not.toContain(value);
    const envelope = await decrypted(db, record.value);
    expect(record.key).toBe(patient.id);
    expect(record.headers).toEqual({
      eventId: envelope.eventId,
      eventType: "patient.created",
      correlationId,
      traceparent,
    });
    expect(envelope).toMatchObject({
      eventType: "patient.created",
      source: "patient-service",
      version: "1.0",
      data: { patientId: patient.id, userId: null, ...body },
      metadata: {
        correlationId,
        userId: staff.userId,
        userAgent: "patient-api-test/1.0",
        sessionId: staff.sessionId,
      },
    });
    expect(envelope.metadata.ipAddress).toMatch(/127\.0\.0\.1$/);
    // The value is the outbox row's payload, byte for byte.
    const row = await db.$client.query("SELECT payload::text AS payload FROM outbox WHERE event_id = $1", [
      envelope.eventId,
    ]);
    expect(row.rows[0]?.payload).toBe(record.value);
  });

  it("refuses invalid input with a problem naming each wrong field, and writes nothing anywhere", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const correlationId = randomUUID();
    const bad = newPatientBody({ email: "not-an-email", dateOfBirth: "2999-01-01", favouriteColour: "blue" });
    const response = await call("POST", "/patients", bad, { "X-Correlation-Id": correlationId });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    const problem = (await response.json()) as { status: number; errors: Array<{ field: string }> };
    expect(problem.status).toBe(400);
    expect(problem.errors.map((error) => error.field).sort()).toEqual([
      "body.dateOfBirth",
      "body.email",
      "body.favouriteColour",
    ]);

    const malformed = await call("POST", "/patients", "{not json", { "X-Correlation-Id": correlationId });
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get("content-type")).toBe("application/problem+json");

    // Give the relay time to publish anything that might have been written, then look everywhere.
    const pollsBefore = relay.pollCount;
    const records = await tap.collect({
      done: () => relay.pollCount > pollsBefore + 5,
      timeoutMs: 5_000,
      settleMs: 500,
    });
    expect(recordsFor(records, correlationId)).toEqual([]);
    const outboxRows = await db.$client.query("SELECT 1 FROM outbox WHERE correlation_id = $1", [
      correlationId,
    ]);
    expect(outboxRows.rowCount).toBe(0);
    const patientRows = await db.$client.query("SELECT 1 FROM patients WHERE last_name = $1", [bad.lastName]);
    expect(patientRows.rowCount).toBe(0);
  });
});

describe("the patient lifecycle", () => {
  it("publishes patient.updated, patient.consent.changed and patient.deleted in order under the patient's key", async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const created = await call("POST", "/patients", newPatientBody());
    const { id } = (await created.json()) as { id: string };

    const read = await call("GET", `/patients/${id}`);
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({
      id,
      consent: { dataSharing: false, marketing: false, research: false },
    });

    const updated = await call("PATCH", `/patients/${id}`, { phone: "+442071838750", allergies: [] });
    expect(updated.status).toBe(200);
    expect(await updated.json()).toMatchObject({ phone: "+442071838750", allergies: [] });
    // Nothing changes: answered, but no event.
    expect((await call("PATCH", `/patients/${id}`, { phone: "+442071838750" })).status).toBe(200);

    const consent = await call("PUT", `/patients/${id}/consent`, {
      dataSharing: true,
      research: true,
      marketing: false,
    });
    expect(consent.status).toBe(200);
    expect(await consent.json()).toMatchObject({ dataSharing: true, research: true, marketing: false });

    expect((await call("DELETE", `/patients/${id}`)).status).toBe(204);
    expect((await call("GET", `/patients/${id}`)).status).toBe(404);
    expect((await call("PATCH", `/patients/${id}`, { phone: "+14155552671" })).status).toBe(404);
    expect((await call("DELETE", `/patients/${id}`)).status).toBe(404);

    const expectedTypes = [
      "patient.created",
      "patient.updated",
      "patient.consent.changed",
      "patient.consent.changed",
      "patient.deleted",
    ];
    const records = (
      await tap.collect({
        done: (seen) => seen.filter((record) => record.key === id).length >= expectedTypes.length,
        settleMs: 1_000,
      })
    ).filter((record) => record.key === id);
    expectPublished(records);
    expect(new Set(records.map((record) => record.partition)).size).toBe(1);
    const envelopes = records
      .sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)))
      .map((record) => JSON.parse(record.value ?? ""));
    expect(envelopes.map((envelope) => envelope.eventType)).toEqual(expectedTypes);
    expect(envelopes[1].data.changes.phone).toMatch(/^enc:v1:/);
    expect((await decrypted(db, records[1]?.value)).data).toEqual({
      patientId: id,
      changedFields: ["phone", "allergies"],
      changes: { phone: "+442071838750", allergies: [] },
    });
    expect(
      envelopes.slice(2, 4).map((envelope) => [envelope.data.consentType, envelope.data.granted]),
    ).toEqual([
      ["dataSharing", true],
      ["research", true],
    ]);
  });

  it("answers 404 problems for unknown patients and 400 for ids that are not UUIDs", async () => {
    const unknown = await call("GET", `/patients/${randomUUID()}`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("content-type")).toBe("application/problem+json");
    const malformed = await call("GET", "/patients/42");
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { errors: Array<{ field: string }> }).errors[0]?.field).toBe(
      "path.id",
    );
  });
});

describe("operations endpoints", () => {
  it("reports readiness of Postgres and Kafka, and exposes HTTP and relay metrics", async () => {
    const ready = await call("GET", "/health/ready");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      checks: { postgres: { status: "up" }, kafka: { status: "up" } },
    });
    expect((await call("GET", "/health/live")).status).toBe(200);
    const metrics = await (await call("GET", "/metrics")).text();
    expect(metrics).toContain(
      'http_request_duration_seconds_count{method="POST",route="/patients",status="201"}',
    );
    expect(metrics).toMatch(/outbox_relay_events_published_total\{topic="patient-events"\} \d+/);
    expect(metrics).toContain("outbox_relay_pending_events");
    // Each published batch's cycle, timed by phase.
    for (const phase of ["poll", "publish"])
      expect(metrics).toMatch(
        new RegExp(`outbox_relay_cycle_phase_seconds_count\\{phase="${phase}"\\} [1-9]`),
      );
  });
});

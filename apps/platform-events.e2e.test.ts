// Every event type of the catalog, produced by the real operation that produces it (an HTTP request to the
// running platform, or the reminder scheduler), read back from its Kafka topic with the record contract:
// the topic and key of the catalog, the outbox's envelope byte for byte, the record headers, and metadata
// naming the caller (token subject and session), the client and the request; each record a message of the
// published /asyncapi.json.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventTopics } from "../events/docs/asyncApiDocument.ts";
import { eventDefinition, eventTypes, type TopicName } from "../events/index.ts";
import type { OutboxRelay } from "../relay/relay.ts";
import { expectPublished } from "../test/asyncapiRecords.ts";
import { causeEveryEvent } from "../test/everyEventTraffic.ts";
import { decrypted, kafkaBrokers, startRelay, testDatabase } from "../test/fixtures.ts";
import { containsAll, type TappedRecord, type TopicTap, tapTopic } from "../test/kafkaTap.ts";
import { type ServedApp, serveApp } from "../test/servedApp.ts";
import { type Caller, testPlatform } from "../test/tokens.ts";

const db = testDatabase();
let server: ServedApp;
let base: string;
let relay: OutboxRelay;
const taps = new Map<TopicName, TopicTap>();

beforeAll(async () => {
  for (const topic of eventTopics) taps.set(topic, await tapTopic(kafkaBrokers(), topic));
  relay = startRelay();
  server = await serveApp(testPlatform(db));
  base = server.base;
});

afterAll(async () => {
  server.close();
  await relay.stop();
  await db.$client.end();
});

interface SentRequest {
  correlationId: string;
  traceparent: string;
  by: Caller;
}
const sent: SentRequest[] = [];

/** Sends a request as `by`, with a correlation id and a trace context of its own, and remembers them. */
async function call(by: Caller, method: string, path: string, body?: unknown) {
  const request: SentRequest = {
    correlationId: randomUUID(),
    traceparent: `00-${randomUUID().replaceAll("-", "")}-${randomUUID().replaceAll("-", "").slice(0, 16)}-01`,
    by,
  };
  sent.push(request);
  const response = await fetch(`${base}${path}`, {
    method,
    headers: by.headers({
      "Content-Type": "application/json",
      "User-Agent": "platform-events-test/1.0",
      "X-Correlation-Id": request.correlationId,
      traceparent: request.traceparent,
    }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

type OutboxRow = {
  eventId: string;
  eventType: string;
  topic: TopicName;
  payload: string;
  correlationId: string;
};

describe("every event type", () => {
  it("is produced by its operation and reaches its topic with the catalog's key, the envelope and the caller's metadata", async () => {
    const { remindedAppointmentId } = await causeEveryEvent(call, db);

    // What was committed: the requests' events, and the reminder of the appointment booked for soon.
    const committed = await db.execute<OutboxRow>(sql`
      SELECT event_id::text AS "eventId", event_type AS "eventType", topic, payload::text AS payload,
             correlation_id::text AS "correlationId"
        FROM outbox
       WHERE correlation_id IN (${sql.join(
         sent.map((request) => sql`${request.correlationId}::uuid`),
         sql`, `,
       )})
          OR (event_type = 'appointment.reminder' AND payload::jsonb -> 'data' ->> 'appointmentId' = ${remindedAppointmentId})
       ORDER BY position`);
    // Every type a request causes; the compliance watch's alerts are a consumer's, proven by its own test
    // (consumers/complianceWatch/complianceWatch.int.test.ts), and a replay's record an operator command's
    // (relay/replay/replay.audit.int.test.ts), as is the record of a decrypting tail
    // (scripts/tail-events.decrypt-audit.int.test.ts).
    const notCausedByRequests = new Set([
      "audit.compliance.alert",
      "audit.history.replayed",
      "audit.operator.decrypted",
    ]);
    const causedByRequests = eventTypes.filter((type) => !notCausedByRequests.has(type));
    expect(new Set(committed.rows.map((row) => row.eventType))).toEqual(new Set(causedByRequests));

    const records = new Map<string, TappedRecord>();
    for (const topic of eventTopics) {
      const expected = committed.rows.filter((row) => row.topic === topic).map((row) => row.eventId);
      const tapped = await (taps.get(topic) as TopicTap).collect({
        done: containsAll(expected),
        settleMs: 0,
      });
      // At-least-once: a redelivery carries the same event id and bytes; the first one is the record.
      for (const record of tapped) if (!records.has(record.eventId)) records.set(record.eventId, record);
    }
    const ours = new Set(committed.rows.map((row) => row.eventId));
    expectPublished([...records.values()].filter((record) => ours.has(record.eventId)));

    for (const row of committed.rows) {
      const record = records.get(row.eventId);
      const where = `${row.eventType} ${row.eventId}`;
      expect(record, `${where} reached Kafka`).toBeDefined();
      if (!record) continue;
      const definition = eventDefinition(row.eventType);
      const envelope = await decrypted(db, record.value);
      if (definition.personalFields.length > 0 && "patientId" in envelope.data && envelope.data.patientId) {
        expect(record.value, `${where}: personal fields sealed`).toContain('"enc:v1:');
      }
      expect(record.topic, where).toBe(definition.topic);
      expect(record.value, `${where}: the outbox's bytes`).toBe(row.payload);
      expect(record.key, `${where}: key`).toBe(
        definition.keyedBy === "eventId" ? row.eventId : definition.aggregateId(envelope.data as never),
      );

      const request = sent.find((candidate) => candidate.correlationId === row.correlationId);
      if (!request) {
        // The scheduler's reminder: nobody asked, so no user, session, client or trace.
        expect(envelope.metadata, where).toMatchObject({ userId: null, sessionId: null, ipAddress: null });
        expect(record.headers, where).toEqual({
          eventId: row.eventId,
          eventType: row.eventType,
          correlationId: row.correlationId,
        });
        continue;
      }
      expect(record.headers, where).toEqual({
        eventId: row.eventId,
        eventType: row.eventType,
        correlationId: request.correlationId,
        traceparent: request.traceparent,
      });
      expect(envelope.metadata, where).toMatchObject({
        correlationId: request.correlationId,
        userId: request.by.userId,
        sessionId: request.by.sessionId,
        userAgent: "platform-events-test/1.0",
      });
      expect(envelope.metadata.ipAddress, where).toMatch(/127\.0\.0\.1$/);
    }
  });
});

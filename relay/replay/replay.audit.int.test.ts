// Every replay that runs is recorded as an audit.history.replayed event in the outbox, committed before its
// first record goes out: who ran it, what it selected, where it sent it, how far it read, how many events.
import { randomUUID } from "node:crypto";
import { userInfo } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EventData } from "../../events/index.ts";
import { createKafka } from "../../kafka/client.ts";
import { kafkaBrokers, newPatientBody, testDatabase } from "../../test/fixtures.ts";
import { tapTopic } from "../../test/kafkaTap.ts";
import { createServedTopic } from "../../test/kafkaTopics.ts";
import { patientHistory, runReplay } from "../../test/replayCommand.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const admin = createKafka({ brokers: kafkaBrokers(), clientId: "replay-audit-test" }).admin();
const target = `replay-audit-${randomUUID()}`;
beforeAll(async () => {
  await admin.connect();
  await createServedTopic(admin, target, 2);
});
afterAll(async () => {
  await admin.deleteTopics({ topics: [target] }).catch(() => {});
  await admin.disconnect();
  await db.$client.end();
});

describe("npm run replay", () => {
  it("records the run as an audit.history.replayed event before it publishes", async () => {
    const { patientId, eventIds } = await patientHistory(db, { updates: 3 });
    const tap = await tapTopic(kafkaBrokers(), target);

    const outcome = await runReplay([
      "--aggregate",
      `patient:${patientId}`,
      "--event-type",
      "patient.updated",
      "--to-topic",
      target,
      "--rate",
      "100",
      "--yes",
    ]);

    expect(outcome.code, outcome.output).toBe(0);
    const recorded = /recorded as audit\.history\.replayed ([0-9a-f-]{36})/.exec(outcome.output);
    expect(recorded, outcome.output).not.toBeNull();
    expect(outcome.output).toMatch(new RegExp(`replayed 3 events to ${target}`));
    const rows = await db.$client.query<{
      payload: { timestamp: string; data: EventData<"audit.history.replayed"> };
      afterReplayed: boolean;
      topic: string;
    }>(
      `SELECT payload, topic,
              position > (SELECT max(position) FROM outbox WHERE event_id = ANY($2::uuid[])) AS "afterReplayed"
         FROM outbox WHERE event_id = $1::uuid AND event_type = 'audit.history.replayed'`,
      [recorded?.[1], eventIds],
    );
    const [row] = rows.rows;
    expect(row?.topic).toBe("audit-events");
    // Written after the rows it replays, so that a replay never selects its own record.
    expect(row?.afterReplayed).toBe(true);
    expect(row?.payload.data).toMatchObject({
      operator: userInfo().username,
      selection: {
        aggregateType: "patient",
        aggregateId: patientId,
        eventType: "patient.updated",
        topic: null,
        fromPosition: null,
        correlationId: null,
      },
      toTopic: target,
      events: 3,
      eventsPerTopic: { "patient-events": 3 },
      ratePerSecond: 100,
    });
    const replayed = await tap.read();
    expect(replayed.map(({ message }) => JSON.parse(String(message.value)).eventId)).toEqual(
      eventIds.slice(1),
    );
    // The record was committed before the first replayed record was produced (its Kafka CreateTime).
    const recordedAt = Date.parse(row?.payload.timestamp ?? "");
    expect(recordedAt).toBeLessThanOrEqual(
      Math.min(...replayed.map(({ message }) => Number(message.timestamp))),
    );
  });
});

describe("npm run replay of an anonymous login's attempts, the login an erased patient's address", () => {
  it("records the selection by the address's pseudonym, never the address", async () => {
    const app = testPlatform(db);
    const email = `replayed.${randomUUID()}@example.org`;
    const attempt = await app.request("/internal/login-attempts", {
      method: "POST",
      headers: (await caller("service")).headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ ...requestBodies.loginAttempt(), userId: null, username: email }),
    });
    expect(attempt.status).toBe(201);
    const admin = await caller("admin");
    const registered = await app.request("/patients", {
      method: "POST",
      headers: admin.headers({ "Content-Type": "application/json" }),
      body: JSON.stringify(newPatientBody({ email })),
    });
    const { id } = (await registered.json()) as { id: string };
    expect(
      (await app.request(`/patients/${id}/erasure`, { method: "POST", headers: admin.headers() })).status,
    ).toBe(200);

    const outcome = await runReplay(["--aggregate", `actor:${email}`, "--to-topic", target, "--yes"]);

    expect(outcome.code, outcome.output).toBe(0);
    const recorded = /recorded as audit\.history\.replayed ([0-9a-f-]{36})/.exec(outcome.output);
    const { rows } = await db.$client.query<{ payload: string }>(
      "SELECT payload::text AS payload FROM outbox WHERE event_id = $1::uuid",
      [recorded?.[1]],
    );
    expect(rows[0]?.payload.toLowerCase()).not.toContain(email);
    expect(JSON.parse(rows[0]?.payload ?? "{}").data.selection).toMatchObject({
      aggregateType: "actor",
      aggregateId: expect.stringMatching(/^erased-login:[0-9a-f]{32}$/),
    });
  });
});

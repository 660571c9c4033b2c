// The audit API is the auditors' alone: any other role gets a 403 and leaves an audit.compliance.violation;
// an auditor's every query leaves its own audit.data.accessed, naming the patient it was about.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { saveRelayCheckpoint } from "../../db/outbox/relayCheckpoint.ts";
import { readRelayMode, writeRelayMode } from "../../db/outbox/relayMode.ts";
import { exampleEvent } from "../../events/examples.ts";
import { append } from "../../test/auditHistory.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { eventsOf } from "../../test/platformState.ts";
import { caller, testPlatform } from "../../test/tokens.ts";
import type { Role } from "../http/auth.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const AUDIT_ROUTES = (eventId: string) => [
  "/audit/events",
  "/audit/events/export?format=csv",
  `/audit/events/${eventId}`,
  "/audit/verify",
];

describe("the auditor API's access", () => {
  it("refuses every other role with a 403 and records the violation", async () => {
    const [eventId] = (await append(db, [exampleEvent("patient.created", { patientId: randomUUID() })])) as [
      string,
    ];
    for (const role of ["patient", "provider", "admin", "service"] as Role[]) {
      const user = await caller(role);
      for (const path of AUDIT_ROUTES(eventId)) {
        const correlationId = randomUUID();
        const response = await app.request(path, {
          headers: user.headers({ "X-Correlation-Id": correlationId }),
        });
        expect(response.status, `${role} ${path}`).toBe(403);
        const events = await eventsOf(db, correlationId);
        expect(events.map((one) => one.type)).toEqual(["audit.compliance.violation"]);
        expect(events[0]?.data).toMatchObject({
          actorId: user.userId,
          resourceType: "audit_history",
          rule: "role-not-permitted",
        });
      }
    }
  });

  it("names the refused route as the OpenAPI document does, in the refusal and in the violation it records", async () => {
    const [eventId] = (await append(db, [exampleEvent("patient.created", { patientId: randomUUID() })])) as [
      string,
    ];
    const documented = Object.keys(
      ((await (await app.request("/openapi.json")).json()) as { paths: Record<string, unknown> }).paths,
    );
    expect(documented).toContain("/audit/events/{eventId}");
    const provider = await caller("provider");
    const correlationId = randomUUID();
    const response = await app.request(`/audit/events/${eventId}`, {
      headers: provider.headers({ "X-Correlation-Id": correlationId }),
    });
    expect(response.status).toBe(403);
    const refusal = (await response.json()) as { detail: string; instance: string };
    expect(refusal).toMatchObject({
      detail: "The provider role may not GET /audit/events/{eventId}; allowed: auditor.",
      instance: `/audit/events/${eventId}`,
    });
    const [violation] = await eventsOf(db, correlationId);
    expect(violation?.data).toMatchObject({ resourceId: "/audit/events/{eventId}", reason: refusal.detail });
  });

  it("records each auditor query as audit.data.accessed, naming the patient asked about", async () => {
    const auditor = await caller("auditor");
    const patientId = randomUUID();
    const [eventId] = (await append(db, [exampleEvent("patient.created", { patientId })])) as [string];
    const asked = [
      [`/audit/events?patientId=${patientId}`, "SEARCH", "/audit/events", patientId],
      [`/audit/events/export?patientId=${patientId}`, "EXPORT", "/audit/events/export", patientId],
      [`/audit/events/${eventId}`, "READ", eventId, patientId],
      ["/audit/verify", "READ", "/audit/verify", null],
    ] as const;
    for (const [path, action, resourceId, aboutPatient] of asked) {
      const correlationId = randomUUID();
      const response = await app.request(path, {
        headers: auditor.headers({ "X-Correlation-Id": correlationId }),
      });
      expect(response.status, path).toBe(200);
      await response.text();
      const events = await eventsOf(db, correlationId);
      expect(events, path).toEqual([
        {
          type: "audit.data.accessed",
          data: {
            actorId: auditor.userId,
            actorRole: "AUDITOR",
            resourceType: "audit_history",
            resourceId,
            patientId: aboutPatient,
            action,
            fields: null,
          },
        },
      ]);
    }
  });

  it("answers one event with its delivery status from the relay's checkpoint, and says when it cannot know", async () => {
    const auditor = await caller("auditor");
    const patientId = randomUUID();
    const [first, second] = [
      ...(await append(db, [exampleEvent("patient.created", { patientId })])),
      ...(await append(db, [exampleEvent("patient.deleted", { patientId })])),
    ] as [string, string];
    const cursor = await db.$client.query<{ txId: string; position: string }>(
      `SELECT tx_id::text AS "txId", position::text AS "position" FROM outbox WHERE event_id = $1`,
      [first],
    );
    const client = await db.$client.connect();
    const saved = await db.$client.query<{ previous: string | null }>(
      `SELECT tx_id::text || ':' || position::text AS previous FROM relay_checkpoints WHERE name = 'outbox'`,
    );
    try {
      await saveRelayCheckpoint(client, "outbox", cursor.rows[0] as { txId: string; position: string });
      const delivered = await (
        await app.request(`/audit/events/${first}`, { headers: auditor.headers() })
      ).json();
      expect(delivered).toMatchObject({
        event: {
          eventId: first,
          eventType: "patient.created",
          aggregate: { type: "patient", id: patientId },
        },
        delivery: { relayMode: "polling", relayed: true, acknowledgedBy: expect.any(String) },
      });
      const deliveryOf = async (eventId: string) =>
        (
          (await (await app.request(`/audit/events/${eventId}`, { headers: auditor.headers() })).json()) as {
            delivery: unknown;
          }
        ).delivery;
      expect(await deliveryOf(second)).toEqual({ relayMode: "polling", relayed: false });

      // In Debezium mode, what the polling relay acknowledged before the handover stays known; the rest is not.
      const mode = await readRelayMode(client);
      await writeRelayMode(client, "debezium", { state: "test" });
      try {
        expect(await deliveryOf(first)).toMatchObject({ relayMode: "debezium", relayed: true });
        expect(await deliveryOf(second)).toEqual({ relayMode: "debezium", relayed: null });
      } finally {
        if (mode.changedAt === null) await client.query("DELETE FROM relay_mode");
        else await writeRelayMode(client, mode.mode, mode.handover ?? {});
      }
      const missing = randomUUID();
      const unknown = await app.request(`/audit/events/${missing}`, { headers: auditor.headers() });
      expect(unknown.status).toBe(404);
      // As every refusal, it writes nothing: no access is recorded for an event that is not there.
      const recorded = await client.query(
        "SELECT 1 FROM outbox WHERE event_type = 'audit.data.accessed' AND payload -> 'data' ->> 'resourceId' = $1",
        [missing],
      );
      expect(recorded.rowCount).toBe(0);
    } finally {
      const previous = saved.rows[0]?.previous;
      if (previous) {
        const [txId, position] = previous.split(":") as [string, string];
        await saveRelayCheckpoint(client, "outbox", { txId, position });
      } else await client.query(`DELETE FROM relay_checkpoints WHERE name = 'outbox'`);
      client.release();
    }
  });

  it("verifies the history for an auditor", async () => {
    const auditor = await caller("auditor");
    const response = await app.request("/audit/verify", { headers: auditor.headers() });
    expect(response.status).toBe(200);
    const report = (await response.json()) as { rows: number };
    expect(report).toMatchObject({ intact: true });
    expect(report.rows).toBeGreaterThan(0);
  });
});

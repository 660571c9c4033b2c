// The one write path: events are validated, enveloped and stored in the writer's transaction, so they
// commit or roll back with the state they describe.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { insertPatient } from "../../apps/patient/store.ts";
import { envelopeSchema } from "../../events/envelope.ts";
import { exampleEvent } from "../../events/examples.ts";
import { decrypted, patientCreated, testDatabase, testEventContext, traced } from "../../test/fixtures.ts";
import { writeTransaction } from "../client.ts";
import { appendEvents } from "./appendEvents.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

const outboxRowsOf = (aggregateId: string) =>
  db.$client.query(
    "SELECT * , payload::text AS payload_text FROM outbox WHERE aggregate_id = $1 ORDER BY position",
    [aggregateId],
  );

describe("appendEvents", () => {
  it("stores each event as an outbox row holding its envelope, topic, key and per-aggregate version", async () => {
    const created = patientCreated();
    const context = testEventContext();
    const trace = {
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      tracestate: "vendor=abc123",
    };
    const appended = await traced(trace, () =>
      writeTransaction(db, (tx) =>
        appendEvents(tx, context, [
          created,
          {
            type: "patient.consent.changed",
            data: {
              patientId: created.data.patientId,
              consentType: "research",
              granted: true,
              changedAt: new Date().toISOString(),
            },
          },
        ]),
      ),
    );
    const { rows } = await outboxRowsOf(created.data.patientId);
    expect(rows).toHaveLength(2);
    expect(
      rows.map((row) => [row.event_type, row.topic, row.message_key, Number(row.aggregate_version)]),
    ).toEqual([
      ["patient.created", "patient-events", created.data.patientId, 1],
      ["patient.consent.changed", "patient-events", created.data.patientId, 2],
    ]);
    const envelope = envelopeSchema.parse(JSON.parse(rows[0].payload_text));
    expect(envelope).toEqual(appended[0]?.envelope);
    expect(await decrypted(db, rows[0].payload_text)).toMatchObject({
      eventType: "patient.created",
      source: "test-suite",
      version: "1.0",
      data: created.data,
    });
    expect(rows[0]).toMatchObject({
      event_id: envelope.eventId,
      aggregate_type: "patient",
      correlation_id: context.metadata.correlationId,
      traceparent: trace.traceparent,
      tracestate: trace.tracestate,
    });

    await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [
        {
          type: "patient.deleted",
          data: { patientId: created.data.patientId, deletedAt: new Date().toISOString(), erasure: false },
        },
      ]),
    );
    const after = await outboxRowsOf(created.data.patientId);
    expect(after.rows.map((row) => Number(row.aggregate_version))).toEqual([1, 2, 3]);
  });

  it("keys audit events by their own event id and gives them no aggregate version", async () => {
    const [event] = await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [exampleEvent("audit.data.accessed")]),
    );
    const { rows } = await db.$client.query("SELECT * FROM outbox WHERE event_id = $1", [event?.eventId]);
    expect(rows[0]).toMatchObject({
      topic: "audit-events",
      message_key: event?.eventId,
      aggregate_version: null,
    });
  });

  it("throws on an event that fails its schema, naming the event type and field, and the transaction writes nothing", async () => {
    const patientId = randomUUID();
    const attempt = writeTransaction(db, async (tx) => {
      await insertPatient(tx, { id: patientId, ...patientCreated(patientId).data });
      await appendEvents(tx, testEventContext(), [
        { type: "patient.created", data: { ...patientCreated(patientId).data, email: "nope" } },
      ]);
    });
    await expect(attempt).rejects.toThrow(/patient\.created[\s\S]*email/);
    expect((await db.$client.query("SELECT 1 FROM patients WHERE id = $1", [patientId])).rowCount).toBe(0);
    expect((await outboxRowsOf(patientId)).rowCount).toBe(0);
  });

  it("leaves no state and no outbox row when the transaction throws after appending", async () => {
    const created = patientCreated();
    const attempt = writeTransaction(db, async (tx) => {
      await insertPatient(tx, { id: created.data.patientId, ...created.data });
      await appendEvents(tx, testEventContext(), [created]);
      throw new Error("the service failed after appending");
    });
    await expect(attempt).rejects.toThrow("the service failed after appending");
    expect(
      (await db.$client.query("SELECT 1 FROM patients WHERE id = $1", [created.data.patientId])).rowCount,
    ).toBe(0);
    expect((await outboxRowsOf(created.data.patientId)).rowCount).toBe(0);
  });

  it("is refused UPDATE, DELETE and TRUNCATE on the outbox: the history is append-only", async () => {
    const created = patientCreated();
    await writeTransaction(db, (tx) => appendEvents(tx, testEventContext(), [created]));
    const id = created.data.patientId;
    await expect(
      db.$client.query("UPDATE outbox SET topic = 'x' WHERE aggregate_id = $1", [id]),
    ).rejects.toThrow(/append-only/);
    await expect(db.$client.query("DELETE FROM outbox WHERE aggregate_id = $1", [id])).rejects.toThrow(
      /append-only/,
    );
    await expect(db.$client.query("TRUNCATE outbox")).rejects.toThrow(/append-only/);
    expect((await outboxRowsOf(id)).rowCount).toBe(1);
  });
});

// A patient's deletion or erasure racing writes that add rows naming them (bookings, documents): found by a
// probe firing five bookings and a deletion at once, which left a deleted patient with BOOKED appointments
// nobody could cancel (their provider's slot blocked for good), and an erasure that failed with a 500 on a
// booking it had not seen. Every such write now waits for the patient's lock (apps/http/patientAccess.ts).
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase } from "../../test/fixtures.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
afterAll(() => db.$client.end());

const HOUR_MS = 3_600_000;
const ROUNDS = 10;
const BOOKINGS = 4;
let providerIds: string[] = [];

async function send(method: string, path: string, body?: unknown) {
  const admin = await caller("admin");
  const response = await app.request(path, {
    method,
    headers: admin.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
}

beforeAll(async () => {
  providerIds = await Promise.all(
    Array.from({ length: BOOKINGS }, async (_, index) => {
      const email = `racing.provider.${randomUUID()}@example.org`;
      const { body } = await send(
        "POST",
        "/providers",
        requestBodies.provider({ email, lastName: `P${index}` }),
      );
      return (body as { id: string }).id;
    }),
  );
});

async function newPatient(): Promise<string> {
  const { status, body } = await send("POST", "/patients", requestBodies.patient());
  expect(status).toBe(201);
  return (body as { id: string }).id;
}

/** Each round's bookings at their own hours, far enough ahead that no two rounds share a provider's slot. */
function bookings(patientId: string, round: number) {
  return providerIds.map((providerId, index) =>
    send(
      "POST",
      "/appointments",
      requestBodies.booking(patientId, providerId, (30 + round * 10 + index) * 24 * HOUR_MS),
    ),
  );
}

async function appointmentsOf(patientId: string) {
  const { rows } = await db.$client.query<{ id: string; status: string }>(
    "SELECT id, status FROM appointments WHERE patient_id = $1",
    [patientId],
  );
  return rows;
}

async function eventTypesOf(aggregateIds: string[]) {
  const { rows } = await db.$client.query<{ aggregateId: string; eventType: string }>(
    `SELECT aggregate_id AS "aggregateId", event_type AS "eventType" FROM outbox
      WHERE aggregate_id = ANY($1::text[]) ORDER BY tx_id, position`,
    [aggregateIds],
  );
  return rows;
}

describe("a patient's deletion racing bookings", () => {
  it("cancels every booking that came before it, and every later one finds no patient", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const patientId = await newPatient();
      // The deletion a little after the bookings, so that it begins while some are being written.
      const [deletion, ...booked] = await Promise.all([
        sleep(round * 3).then(() => send("DELETE", `/patients/${patientId}`)),
        ...bookings(patientId, round),
      ]);
      expect(deletion.status).toBe(204);
      for (const booking of booked) expect([201, 404]).toContain(booking.status);
      const rows = await appointmentsOf(patientId);
      expect(rows.filter((row) => row.status === "BOOKED")).toEqual([]);
      expect(rows).toHaveLength(booked.filter((booking) => booking.status === 201).length);
      // Each booking's story ends with its cancellation by the deletion.
      const events = await eventTypesOf(rows.map((row) => row.id));
      for (const { id } of rows) {
        expect(events.filter((event) => event.aggregateId === id).map((event) => event.eventType)).toEqual([
          "appointment.booked",
          "appointment.cancelled",
        ]);
      }
    }
  });
});

describe("a patient's erasure racing bookings and uploads", () => {
  it("erases them all, never failing on a row it had not seen", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const patientId = await newPatient();
      const [erasure, upload, ...booked] = await Promise.all([
        sleep(round * 3).then(() => send("POST", `/patients/${patientId}/erasure`)),
        send("POST", "/documents", requestBodies.document(patientId)),
        ...bookings(patientId, ROUNDS + round),
      ]);
      expect(erasure.status).toBe(200);
      for (const write of [upload, ...booked]) expect([201, 404]).toContain(write.status);
      const removed = (erasure.body as { removed: { appointments: number; documents: number } }).removed;
      expect(removed.appointments).toBe(booked.filter((booking) => booking.status === 201).length);
      expect(removed.documents).toBe(upload.status === 201 ? 1 : 0);
      expect(await appointmentsOf(patientId)).toEqual([]);
      const documents = await db.$client.query("SELECT 1 FROM documents WHERE patient_id = $1", [patientId]);
      expect(documents.rowCount).toBe(0);
    }
  });

  it("erases consents given on their documents at the same moment", async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const patientId = await newPatient();
      const upload = await send("POST", "/documents", requestBodies.document(patientId));
      const documentId = (upload.body as { id: string }).id;
      const [erasure, ...consents] = await Promise.all([
        sleep(round * 2).then(() => send("POST", `/patients/${patientId}/erasure`)),
        ...Array.from({ length: 4 }, () =>
          send("POST", `/documents/${documentId}/consents`, requestBodies.consent()),
        ),
      ]);
      expect(erasure.status).toBe(200);
      for (const consent of consents) expect([201, 404]).toContain(consent.status);
      const left = await db.$client.query("SELECT 1 FROM document_consents WHERE document_id = $1", [
        documentId,
      ]);
      expect(left.rowCount).toBe(0);
    }
  });
});

/** Resolves once `count` sessions of the test database wait for a lock, or `given` holds (within 30 s). */
async function waitersAtLeast(count: number, given: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { rows } = await db.$client.query<{ waiting: number }>(
      "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if ((rows[0]?.waiting ?? 0) >= count || given()) return;
    if (Date.now() > deadline) throw new Error(`${count} sessions were not waiting for a lock within 30 s`);
    await sleep(20);
  }
}

describe("a patient's deletion racing writes to their documents", () => {
  it("waits for those begun before it, whose events come first; those after it find no patient", async () => {
    const patientId = await newPatient();
    const uploads = await Promise.all([
      send("POST", "/documents", requestBodies.document(patientId)),
      send("POST", "/documents", requestBodies.document(patientId)),
    ]);
    const [consented, processed] = uploads.map((upload) => (upload.body as { id: string }).id);
    // A slow request, played by a session that holds the documents' rows: the writes to them wait there, having
    // read the patient, while the deletion is sent.
    const slow = await db.$client.connect();
    try {
      await slow.query("BEGIN");
      await slow.query("SELECT 1 FROM documents WHERE id = ANY($1::uuid[]) FOR UPDATE", [
        [consented, processed],
      ]);
      const writes = Promise.all([
        send("POST", `/documents/${consented}/consents`, requestBodies.consent()),
        send("POST", `/documents/${processed}/processing-results`, requestBodies.processingResult()),
      ]);
      await waitersAtLeast(2, () => false);
      let deletionDone = false;
      const deletion = send("DELETE", `/patients/${patientId}`).finally(() => {
        deletionDone = true;
      });
      // It waits for them too (or, without their lock on the patient, is done at once).
      await waitersAtLeast(3, () => deletionDone);
      await slow.query("COMMIT");
      const [[consent, result], deleted] = await Promise.all([writes, deletion]);
      expect([consent.status, result.status, deleted.status]).toEqual([201, 200, 204]);
    } finally {
      slow.release();
    }
    const { rows } = await db.$client.query<{ eventType: string }>(
      `SELECT event_type AS "eventType" FROM outbox
        WHERE patient_id = $1 AND event_type IN ('consent.given', 'document.processed', 'patient.deleted')
        ORDER BY position`,
      [patientId],
    );
    expect(rows.map((row) => row.eventType).at(-1)).toBe("patient.deleted");
    expect(rows).toHaveLength(3);
    // After it, the same writes find no patient.
    const late = await send("POST", `/documents/${consented}/consents`, requestBodies.consent());
    expect(late.status).toBe(404);
  });
});

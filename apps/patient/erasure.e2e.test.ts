// GDPR erasure end to end, against the real Postgres and Kafka: before it, a patient's personal data opens
// from the outbox, from Kafka and from an auditor's export; after POST /patients/:id/erasure, their state is
// gone, their key is destroyed and none of it opens anywhere, while the history is still whole and verifies.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sealCheckpoint } from "../../audit/sealCheckpoint.ts";
import { loadSigningKey } from "../../audit/signingKey.ts";
import { PatientErased } from "../../db/patientKeys.ts";
import { exampleData } from "../../events/examples.ts";
import type { OutboxRelay } from "../../relay/relay.ts";
import { expectPublished } from "../../test/asyncapiRecords.ts";
import {
  decrypted,
  eventually,
  kafkaBrokers,
  newPatientBody,
  startRelay,
  testDatabase,
} from "../../test/fixtures.ts";
import { type TappedRecord, type TopicTap, tapTopic } from "../../test/kafkaTap.ts";
import { requestBodies } from "../../test/serviceRequests.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
let relay: OutboxRelay;
let admin: Caller;
let auditor: Caller;
let patientTap: TopicTap;
let appointmentTap: TopicTap;

beforeAll(async () => {
  admin = await caller("admin");
  auditor = await caller("auditor");
  patientTap = await tapTopic(kafkaBrokers(), "patient-events");
  appointmentTap = await tapTopic(kafkaBrokers(), "appointment-events");
  relay = startRelay();
});

afterAll(async () => {
  await relay.stop();
  await db.$client.end();
});

async function call(
  who: Caller,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const response = await app.request(path, {
    method,
    headers: who.headers(body === undefined ? headers : { "Content-Type": "application/json", ...headers }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json().catch(() => null)) as Record<string, unknown>,
  };
}

/** The patient's history rows, each envelope as stored (sealed). */
async function historyOf(patientId: string) {
  const { rows } = await db.$client.query<{ event_type: string; payload: string }>(
    "SELECT event_type, payload::text AS payload FROM outbox WHERE patient_id = $1 ORDER BY tx_id, position",
    [patientId],
  );
  return rows;
}

async function exportOf(patientId: string): Promise<string> {
  const response = await app.request(`/audit/events/export?patientId=${patientId}&format=ndjson`, {
    headers: auditor.headers(),
  });
  expect(response.status).toBe(200);
  return response.text();
}

/** The envelopes of an export's events (its last line says it is complete). */
const envelopesIn = (ndjson: string) =>
  ndjson
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { envelope?: unknown })
    .flatMap((line) => ("envelope" in line ? [line.envelope] : []));

const recordsOf = (records: TappedRecord[], key: string) => records.filter((record) => record.key === key);

describe("erasure", () => {
  it("makes the patient's personal data unreadable in the outbox, on Kafka and in exports, and keeps the history verifiable", async () => {
    const body = newPatientBody();
    // With an Idempotency-Key, the answer (which holds the whole patient) is stored for retries.
    const created = await call(admin, "POST", "/patients", body, { "Idempotency-Key": randomUUID() });
    expect(created.status).toBe(201);
    const patientId = created.body.id as string;
    const provider = await call(
      admin,
      "POST",
      "/providers",
      requestBodies.provider({ email: `${randomUUID()}@example.org` }),
    );
    const booked = await call(
      admin,
      "POST",
      "/appointments",
      requestBodies.booking(patientId, provider.body.id as string),
    );
    expect(booked.status).toBe(201);
    const appointmentId = booked.body.id as string;
    const notes = exampleData["appointment.booked"].notes as string;
    const secrets = [body.lastName, body.email, body.insuranceInfo.policyNumber, notes];

    // Before: everything opens for those with access, and the stored and sent bytes hold only ciphertext.
    const [patientRecord] = recordsOf(
      await patientTap.collect({ done: (seen) => recordsOf(seen, patientId).length >= 1 }),
      patientId,
    );
    const [bookingRecord] = recordsOf(
      await appointmentTap.collect({ done: (seen) => recordsOf(seen, appointmentId).length >= 1 }),
      appointmentId,
    );
    expectPublished([patientRecord, bookingRecord].filter((record) => record !== undefined));
    const history = await historyOf(patientId);
    const exportedBefore = await exportOf(patientId);
    for (const text of [
      patientRecord?.value,
      bookingRecord?.value,
      exportedBefore,
      ...history.map((row) => row.payload),
    ])
      for (const secret of secrets) expect(text).not.toContain(secret);
    expect((await decrypted(db, patientRecord?.value)).data).toMatchObject({ lastName: body.lastName });
    expect((await decrypted(db, bookingRecord?.value)).data).toMatchObject({ notes });
    expect((await decrypted(db, history[0]?.payload)).data).toMatchObject({ email: body.email });
    // The history up to here is sealed by a signed checkpoint, which must still hold after the erasure.
    const client = await db.$client.connect();
    const signingKey = loadSigningKey();
    await eventually(() => sealCheckpoint(client, signingKey)).finally(() => client.release());

    const erased = await call(admin, "POST", `/patients/${patientId}/erasure`);
    expect(erased.status).toBe(200);
    expect(erased.body).toMatchObject({
      patientId,
      removed: { patients: 1, appointments: 1, documents: 0, storedResponses: 1 },
    });

    // The state is gone; the history has every event it had, plus the erasure's own.
    expect((await call(admin, "GET", `/patients/${patientId}`)).status).toBe(404);
    expect((await call(admin, "GET", `/appointments/${appointmentId}`)).status).toBe(404);
    const { rows: state } = await db.$client.query(
      "SELECT (SELECT count(*) FROM patients WHERE id = $1)::int AS patients, (SELECT count(*) FROM appointments WHERE patient_id = $1)::int AS appointments",
      [patientId],
    );
    expect(state[0]).toEqual({ patients: 0, appointments: 0 });
    const after = await historyOf(patientId);
    expect(after.slice(0, history.length)).toEqual(history);
    expect(after.slice(history.length).map((row) => row.event_type)).toEqual(
      expect.arrayContaining(["patient.deleted", "audit.data.modified"]),
    );
    const deletion = after.find((row) => row.event_type === "patient.deleted");
    expect((await decrypted(db, deletion?.payload)).data).toMatchObject({ patientId, erasure: true });

    // After: nothing of theirs opens, wherever it is read from.
    for (const row of history.filter((row) => row.payload.includes('"enc:v1:'))) {
      await expect(decrypted(db, row.payload)).rejects.toThrow(PatientErased);
    }
    await expect(decrypted(db, patientRecord?.value)).rejects.toThrow(PatientErased);
    await expect(decrypted(db, bookingRecord?.value)).rejects.toThrow(PatientErased);
    const exportedAfter = await exportOf(patientId);
    for (const secret of secrets) expect(exportedAfter).not.toContain(secret);
    for (const envelope of envelopesIn(exportedAfter).filter((envelope) =>
      JSON.stringify(envelope).includes('"enc:v1:'),
    )) {
      await expect(decrypted(db, JSON.stringify(envelope))).rejects.toThrow(PatientErased);
    }
    const erasureRecords = recordsOf(
      await patientTap.collect({ done: (seen) => recordsOf(seen, patientId).length >= 2 }),
      patientId,
    );
    // The erasure's own record, with the patient's key gone, still travels as the document describes it.
    expectPublished(erasureRecords);
    expect((await decrypted(db, erasureRecords.at(-1)?.value)).data).toMatchObject({ erasure: true });

    // The proof survives: every hash, chain link and signed checkpoint still holds.
    const verify = await call(auditor, "GET", "/audit/verify");
    expect(verify.status).toBe(200);
    expect(verify.body).toMatchObject({ intact: true });

    // Erasure is final: a second one is 410, and the services no longer know the patient.
    expect((await call(admin, "POST", `/patients/${patientId}/erasure`)).status).toBe(410);
    const email = await call(admin, "POST", "/notifications/email", requestBodies.email(patientId));
    expect(email.status).toBe(404);
  });

  it("says its report again to a retry with the same Idempotency-Key, and does nothing twice", async () => {
    const created = await call(admin, "POST", "/patients", newPatientBody());
    const patientId = created.body.id as string;
    const document = await call(admin, "POST", "/documents", requestBodies.document(patientId));
    expect(document.status).toBe(201);
    const key = { "Idempotency-Key": randomUUID() };

    const first = await call(admin, "POST", `/patients/${patientId}/erasure`, undefined, key);
    expect(first.status).toBe(200);
    expect(first.body.documentFilesToDelete).toEqual([document.body.storageUrl]);
    // The answer was lost on the way: the retry gets the same report, the files to delete with it.
    const retry = await app.request(`/patients/${patientId}/erasure`, {
      method: "POST",
      headers: admin.headers(key),
    });
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.json()).toEqual(first.body);
    const erasures = await db.$client.query(
      "SELECT count(*)::int AS n FROM outbox WHERE aggregate_id = $1 AND event_type = 'patient.deleted'",
      [patientId],
    );
    expect(erasures.rows[0]?.n).toBe(1);
    // Without the key, or with another one, the erasure is done: 410.
    expect((await call(admin, "POST", `/patients/${patientId}/erasure`)).status).toBe(410);
    const otherKey = { "Idempotency-Key": randomUUID() };
    expect((await call(admin, "POST", `/patients/${patientId}/erasure`, undefined, otherKey)).status).toBe(
      410,
    );
  });

  it("answers 404 for a patient that never existed, and refuses everyone but an admin", async () => {
    expect((await call(admin, "POST", `/patients/${randomUUID()}/erasure`)).status).toBe(404);
    const provider = await caller("provider");
    expect((await call(provider, "POST", `/patients/${randomUUID()}/erasure`)).status).toBe(403);
  });
});

// The erasure's own events are readable by every consumer: an erased patient's events leave the request's
// personal metadata out (its address, its user agent) rather than seal it under the key the erasure has just
// destroyed, which no one could open again. Sealed, the patient directory skipped patient.deleted as an event it
// cannot read, and kept the erased patient's name, e-mail and phone in plain text. The erasure is requested here
// as a client sends it, with a User-Agent.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { patientDirectoryConsumer } from "../../consumers/patientDirectory/patientDirectoryConsumer.ts";
import type { OutboxRelay } from "../../relay/relay.ts";
import { uniqueConsumerName } from "../../test/consumers/effects.ts";
import { type StartedConsumer, startTestConsumer } from "../../test/consumers/inProcess.ts";
import { eventually, kafkaBrokers, newPatientBody, startRelay, testDatabase } from "../../test/fixtures.ts";
import { type Caller, caller, testPlatform } from "../../test/tokens.ts";

const db = testDatabase();
const app = testPlatform(db);
let relay: OutboxRelay;
let directory: StartedConsumer;
let admin: Caller;

beforeAll(async () => {
  admin = await caller("admin");
  directory = await startTestConsumer(patientDirectoryConsumer, {
    db,
    kafkaBrokers: kafkaBrokers(),
    name: uniqueConsumerName("erasure-directory"),
  });
  relay = startRelay();
});

afterAll(async () => {
  await relay.stop();
  await directory.stop();
  await db.$client.end();
});

/** A request from a browser-like client: its user agent is request metadata an event about a patient seals. */
async function call(method: string, path: string, body?: unknown) {
  const headers = { "User-Agent": "Mozilla/5.0 (erasure test)", "Content-Type": "application/json" };
  const response = await app.request(path, {
    method,
    headers: admin.headers(headers),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("an erasure requested with request metadata", () => {
  it("writes patient.deleted without it, and the patient directory forgets the patient", async () => {
    const registered = await call("POST", "/patients", newPatientBody());
    expect(registered.status).toBe(201);
    const patientId = registered.body.id as string;
    await eventually(async () => {
      const { rows } = await db.$client.query(
        "SELECT 1 FROM patient_directory WHERE patient_id = $1 AND email IS NOT NULL",
        [patientId],
      );
      return rows.length > 0;
    });

    expect((await call("POST", `/patients/${patientId}/erasure`)).status).toBe(200);
    const { rows: erasure } = await db.$client.query<{ metadata: Record<string, unknown> }>(
      `SELECT payload::json -> 'metadata' AS metadata FROM outbox
        WHERE aggregate_id = $1 AND event_type = 'patient.deleted'`,
      [patientId],
    );
    expect(erasure.map(({ metadata }) => [metadata.userAgent, metadata.ipAddress])).toEqual([[null, null]]);

    await eventually(async () => {
      const { rows } = await db.$client.query(
        `SELECT 1 FROM patient_directory
          WHERE patient_id = $1 AND deleted_at IS NOT NULL AND first_name IS NULL AND email IS NULL`,
        [patientId],
      );
      return rows.length > 0;
    });
  });
});

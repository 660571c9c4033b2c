// The development mailbox and erasure never cross: a message recorded while an erasure runs is deleted by it
// (the erasure runs again), and one whose patient is erased first is not recorded at all. Found by a probe: a
// welcome e-mail opened just before its patient's erasure was recorded just after it, name and address in plain
// text, and the erasure's report said 0 recorded notifications.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { erasePatient } from "../../../apps/patient/erasure.ts";
import { writeTransaction } from "../../../db/client.ts";
import { PatientErased } from "../../../db/patientKeys.ts";
import { newPatientBody, testDatabase, testMasterKeys } from "../../../test/fixtures.ts";
import { caller, testPlatform } from "../../../test/tokens.ts";
import { recordingTransport } from "./recordingTransport.ts";

const db = testDatabase();
const app = testPlatform(db);
const transport = recordingTransport(db);
afterAll(() => db.$client.end());

async function registeredPatient(): Promise<string> {
  const admin = await caller("admin");
  const response = await app.request("/patients", {
    method: "POST",
    headers: admin.headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(newPatientBody()),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

const welcome = (patientId: string) => ({
  notificationId: randomUUID(),
  patientId,
  to: "ada@example.org",
  channel: "email" as const,
  subject: "Welcome",
  text: "Dear Ada, welcome.",
});

async function recordedFor(patientId: string): Promise<number> {
  const { rowCount } = await db.$client.query("SELECT 1 FROM recorded_notifications WHERE patient_id = $1", [
    patientId,
  ]);
  return rowCount ?? 0;
}

describe("the recording transport and erasure", () => {
  it("records a message for a live patient, and none once the patient is erased", async () => {
    const patientId = await registeredPatient();
    expect((await transport.send(welcome(patientId))).transportMessageId).toMatch(/^recorded-\d+$/);
    expect(await recordedFor(patientId)).toBe(1);

    await writeTransaction(db, (tx) => erasePatient(tx, patientId, testMasterKeys));
    expect(await recordedFor(patientId)).toBe(0);
    await expect(transport.send(welcome(patientId))).rejects.toBeInstanceOf(PatientErased);
    expect(await recordedFor(patientId)).toBe(0);
  });

  it("leaves nothing behind when the message is recorded after the erasure's snapshot, before its commit", async () => {
    const patientId = await registeredPatient();
    let attempts = 0;
    const outcome = await writeTransaction(db, async (tx) => {
      attempts++;
      // The snapshot is taken: the mailbox is read as it is now, without the message.
      await tx.execute("SELECT 1");
      if (attempts === 1) await transport.send(welcome(patientId));
      return erasePatient(tx, patientId, testMasterKeys);
    });
    // The first attempt met the key row the record rewrote, and the erasure ran again with the message in view.
    expect(attempts).toBe(2);
    expect(outcome).toMatchObject({ outcome: "erased", report: { removed: { recordedNotifications: 1 } } });
    expect(await recordedFor(patientId)).toBe(0);
  });
});

// The patient directory read model, fed from patient-events: what a provider sees of a patient follows the
// patient's changes, consent and deletion.
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../../db/client.ts";
import { destroyDataKey } from "../../db/patientKeys.ts";
import { patientDirectory } from "../../db/schema.ts";
import type { EventData } from "../../events/index.ts";
import { commitToOutbox } from "../../test/consumers/committedRecords.ts";
import { handledBy } from "../../test/consumers/inbox.ts";
import { type StartedConsumer, startTestConsumer } from "../../test/consumers/inProcess.ts";
import {
  eventRecord,
  patientCreatedRecord,
  publish,
  publishUncommitted,
  sealPlainPersonalData,
} from "../../test/consumers/records.ts";
import { kafkaBrokers, testDatabase } from "../../test/fixtures.ts";
import { patientDirectoryConsumer } from "./patientDirectoryConsumer.ts";
import { providerDirectoryEntry } from "./providerDirectory.ts";

const db = testDatabase();
let directory: StartedConsumer;
beforeAll(async () => {
  directory = await startTestConsumer(patientDirectoryConsumer, { db, kafkaBrokers: kafkaBrokers() });
});
afterAll(async () => {
  await directory.stop();
  await db.$client.end();
});

const consent = (patientId: string, granted: boolean) =>
  eventRecord("patient.consent.changed", {
    patientId,
    consentType: "dataSharing",
    granted,
    changedAt: new Date().toISOString(),
  });

/** Waits until the directory consumer has processed the record (the inbox says so). */
const processed = (record: { eventId: string }) => handledBy(db, directory.name, [record.eventId]);

describe("the patient directory", () => {
  it("shows a new patient's name, and their contact details only once they consent to data sharing", async () => {
    const patientId = randomUUID();
    const created = patientCreatedRecord(patientId);
    await publish(kafkaBrokers(), [created], db);
    await processed(created);
    const data = created.data as EventData<"patient.created">;
    expect(await providerDirectoryEntry(db, patientId)).toEqual({
      patientId,
      firstName: data.firstName,
      lastName: data.lastName,
      contact: null,
      consent: { dataSharing: false, marketing: false, research: false },
    });

    const granted = consent(patientId, true);
    await publish(kafkaBrokers(), [granted], db);
    await processed(granted);
    expect((await providerDirectoryEntry(db, patientId))?.contact).toEqual({
      email: data.email,
      phone: data.phone,
    });
  });

  it("follows changed contact details, and hides them again when consent is withdrawn", async () => {
    const patientId = randomUUID();
    const updated = eventRecord("patient.updated", {
      patientId,
      changedFields: ["email", "allergies"],
      changes: { email: "ada.new@example.org", allergies: [] },
    });
    const withdrawn = consent(patientId, false);
    await publish(kafkaBrokers(), [patientCreatedRecord(patientId), consent(patientId, true), updated], db);
    await processed(updated);
    expect((await providerDirectoryEntry(db, patientId))?.contact?.email).toBe("ada.new@example.org");

    await publish(kafkaBrokers(), [withdrawn], db);
    await processed(withdrawn);
    const entry = await providerDirectoryEntry(db, patientId);
    expect(entry?.contact).toBeNull();
    expect(entry?.consent.dataSharing).toBe(false);
  });

  it("forgets a deleted patient's personal data, and no later event brings it back", async () => {
    const patientId = randomUUID();
    const deleted = eventRecord("patient.deleted", { patientId, deletedAt: new Date().toISOString() });
    const late = eventRecord("patient.updated", {
      patientId,
      changedFields: ["phone"],
      changes: { phone: "+14155550100" },
    });
    // A re-driven creation arriving after the deletion, as a dead letter re-driven late would.
    const resurrection = patientCreatedRecord(patientId);
    await publish(kafkaBrokers(), [patientCreatedRecord(patientId), consent(patientId, true), deleted], db);
    await processed(deleted);
    const regranted = consent(patientId, true);
    await publish(kafkaBrokers(), [late, resurrection, regranted], db);
    await processed(regranted);

    expect(await providerDirectoryEntry(db, patientId)).toBeNull();
    const [row] = await db.select().from(patientDirectory).where(eq(patientDirectory.patientId, patientId));
    expect(row).toMatchObject({
      firstName: null,
      lastName: null,
      email: null,
      phone: null,
      consentDataSharing: false,
      consentMarketing: false,
      consentResearch: false,
    });
    expect(row?.deletedAt).not.toBeNull();
  });

  it("forgets an erased patient on an erasure whose request metadata was sealed under the destroyed key", async () => {
    const patientId = randomUUID();
    const created = patientCreatedRecord(patientId);
    await publish(kafkaBrokers(), [created], db);
    await processed(created);
    // The erasure event as erasures wrote it before their transaction forgot the key it destroyed: its user agent
    // sealed under that key, which nothing opens now.
    const erasure = eventRecord("patient.deleted", {
      patientId,
      deletedAt: new Date().toISOString(),
      erasure: true,
    });
    const envelope = JSON.parse(erasure.message.value);
    erasure.message.value = JSON.stringify({
      ...envelope,
      metadata: { ...envelope.metadata, userAgent: "Mozilla/5.0" },
    });
    await sealPlainPersonalData(db, [erasure]);
    expect(JSON.parse(erasure.message.value).metadata.userAgent).toMatch(/^enc:v1:/);
    await commitToOutbox(db, [erasure]);
    await writeTransaction(db, (tx) => destroyDataKey(tx, patientId, new Date()));
    await publishUncommitted(kafkaBrokers(), [erasure], db);
    await processed(erasure);

    const [row] = await db.select().from(patientDirectory).where(eq(patientDirectory.patientId, patientId));
    expect(row).toMatchObject({ firstName: null, lastName: null, email: null, phone: null });
    expect(row?.deletedAt).not.toBeNull();
  });
});

// Many concurrent writers on few aggregates: every event arrives once, each aggregate's events in commit order
// on one partition. Each write appends to the patient's list of conditions inside its transaction, so the
// list's length in each event is its commit order, whatever the relay or the database did.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertPatient } from "../apps/patient/store.ts";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import type { EventData } from "../events/index.ts";
import {
  decrypted,
  kafkaBrokers,
  patientCreated,
  startRelay,
  testDatabase,
  testEventContext,
} from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { addCondition } from "../test/patientWriter.ts";
import type { OutboxRelay } from "./relay.ts";

const PATIENTS = 50;
const CLIENTS = 20;
const WRITES = 1_000;

const db = testDatabase();
let relay: OutboxRelay;
beforeAll(() => {
  relay = startRelay();
});
afterAll(async () => {
  await relay.stop();
  await db.$client.end();
});

describe("the polling relay under concurrent writers", () => {
  it(`delivers ${WRITES} writes from ${CLIENTS} clients across ${PATIENTS} patients once each, every patient in order on one partition`, async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const patientIds = Array.from({ length: PATIENTS }, () => randomUUID());
    const expected: string[] = [];
    for (const patientId of patientIds) {
      const created = patientCreated(patientId);
      await writeTransaction(db, async (tx) => {
        await insertPatient(tx, { id: patientId, ...created.data });
        const [event] = await appendEvents(tx, testEventContext(), [created]);
        expected.push(event?.eventId as string);
      });
    }

    let written = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (written < WRITES) {
          written++;
          const patientId = patientIds[Math.floor(Math.random() * PATIENTS)] as string;
          expected.push(await addCondition(db, patientId, `condition-${randomUUID().slice(0, 8)}`));
        }
      }),
    );

    const wanted = new Set(expected);
    const records = await tap.collect({
      done: containsAll(wanted),
      timeoutMs: 60_000,
    });
    expectExactlyOnce(records, expected);

    for (const patientId of patientIds) {
      const ofPatient = records
        .filter((record) => record.key === patientId)
        .sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)));
      expect(new Set(ofPatient.map((record) => record.partition)).size).toBe(1);
      const [created, ...updates] = await Promise.all(ofPatient.map((record) => decrypted(db, record.value)));
      expect(created?.eventType).toBe("patient.created");
      const lengths = updates.map(
        (event) => (event.data as EventData<"patient.updated">).changes.medicalConditions?.length,
      );
      // The created patient has one condition; each update adds one, in commit order.
      expect(lengths).toEqual(lengths.map((_, index) => index + 2));
    }
  });
});

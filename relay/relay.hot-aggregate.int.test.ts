// Many writers of one hot aggregate, each declaring it (writeTransaction's lockAggregate): they queue on the
// aggregate's lock instead of colliding, so no attempt is retried, and the relay still delivers the
// aggregate's events once each in commit order. Each write appends to the patient's list of conditions, so the
// list's length in each event is its commit order.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertPatient } from "../apps/patient/store.ts";
import { writeTransaction, writeTransactionRetries } from "../db/client.ts";
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

const CLIENTS = 10;
const WRITES = 300;

const db = testDatabase();
let relay: OutboxRelay;
beforeAll(() => {
  relay = startRelay();
});
afterAll(async () => {
  await relay.stop();
  await db.$client.end();
});

describe("writers of one hot aggregate that declare it", () => {
  it(`commit ${WRITES} writes from ${CLIENTS} clients on one patient without a single retry, delivered in commit order`, async () => {
    const tap = await tapTopic(kafkaBrokers(), "patient-events");
    const patientId = randomUUID();
    const created = patientCreated(patientId);
    const expected: string[] = [];
    await writeTransaction(db, async (tx) => {
      await insertPatient(tx, { id: patientId, ...created.data });
      const [event] = await appendEvents(tx, testEventContext(), [created]);
      expected.push(event?.eventId as string);
    });

    const retriesBefore = writeTransactionRetries();
    let written = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (written < WRITES) {
          written++;
          expected.push(
            await addCondition(db, patientId, `condition-${randomUUID().slice(0, 8)}`, {
              declareAggregate: true,
            }),
          );
        }
      }),
    );
    expect(writeTransactionRetries()).toEqual(retriesBefore);

    const records = await tap.collect({ done: containsAll(new Set(expected)), timeoutMs: 60_000 });
    expectExactlyOnce(records, expected);
    const ofPatient = records
      .filter((record) => record.key === patientId)
      .sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)));
    expect(new Set(ofPatient.map((record) => record.partition)).size).toBe(1);
    const [first, ...updates] = await Promise.all(ofPatient.map((record) => decrypted(db, record.value)));
    expect(first?.eventType).toBe("patient.created");
    const lengths = updates.map(
      (event) => (event.data as EventData<"patient.updated">).changes.medicalConditions?.length,
    );
    // The created patient has one condition; each update adds one, in commit order.
    expect(lengths).toEqual(Array.from({ length: WRITES }, (_, index) => index + 2));
    const [{ count }] = (
      await db.$client.query(
        "SELECT count(*)::int AS count FROM outbox WHERE aggregate_id = $1 AND event_type = 'patient.updated'",
        [patientId],
      )
    ).rows as [{ count: number }];
    expect(count).toBe(WRITES);
  });
});

// One aggregate's events reach Kafka through Debezium in commit order, on one partition, while concurrent
// writers contend for the same aggregates and some transactions append several events.
import { randomUUID } from "node:crypto";
import { afterAll, describe, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import type { NewEvent } from "../events/index.ts";
import { asTapped, deliveredAtLeast, recordsFromNow, useDebeziumRelay } from "../test/debeziumRelay.ts";
import { testDatabase, testEventContext } from "../test/fixtures.ts";
import { expectPerKeyOrder } from "../test/kafkaAssertions.ts";

const PATIENTS = 8;
const WRITERS = 5;
const TRANSACTIONS_PER_WRITER = 25;

const db = testDatabase();
const debezium = useDebeziumRelay();
afterAll(() => db.$client.end());

function allergyUpdate(patientId: string, writer: number, n: number): NewEvent {
  return {
    type: "patient.updated",
    data: { patientId, changedFields: ["allergies"], changes: { allergies: [`allergy-${writer}-${n}`] } },
  };
}

describe("the Debezium relay", () => {
  it("keeps each patient's events in commit order on one partition under concurrent writers", async () => {
    debezium();
    const patients = Array.from({ length: PATIENTS }, () => randomUUID());
    const reader = await recordsFromNow();
    const written: string[] = [];
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, writer) => {
        for (let n = 0; n < TRANSACTIONS_PER_WRITER; n++) {
          // One patient per transaction, two in every third, overlapping with the other writers'.
          const first = (writer * 7 + n) % PATIENTS;
          const chosen = [
            patients[first],
            ...(n % 3 === 0 ? [patients[(first + 1) % PATIENTS]] : []),
          ] as string[];
          const appended = await writeTransaction(db, (tx) =>
            appendEvents(
              tx,
              testEventContext(),
              chosen.map((patientId) => allergyUpdate(patientId, writer, n)),
            ),
          );
          written.push(...appended.map((event) => event.eventId));
        }
      }),
    );

    // The commit order of each patient's events, independent of any relay: the versions the writers took
    // under the aggregate's row lock.
    const ordered = await db.$client.query<{ key: string; eventId: string }>(
      `SELECT message_key AS key, event_id::text AS "eventId" FROM outbox
        WHERE event_id = ANY($1::uuid[]) ORDER BY aggregate_version`,
      [written],
    );
    const expected = new Map<string, string[]>(patients.map((id) => [id, []]));
    for (const { key, eventId } of ordered.rows) expected.get(key)?.push(eventId);

    const records = await reader.readUntil(deliveredAtLeast(written));
    expectPerKeyOrder(asTapped(records), expected);
  });
});

// Nothing rolled back ever reaches Kafka through Debezium: not a whole transaction, not one held open while
// others commit around it, not a savepoint rolled back inside a transaction that commits.
import { afterAll, describe, expect, it } from "vitest";
import { type WriteTransaction, writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { asTapped, deliveredAtLeast, recordsFromNow, useDebeziumRelay } from "../test/debeziumRelay.ts";
import { patientCreated, testDatabase, testEventContext } from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";

const db = testDatabase();
const debezium = useDebeziumRelay();
afterAll(() => db.$client.end());

class RollBack extends Error {}
const ignoreRollBack = (error: unknown) => {
  if (!(error instanceof RollBack)) throw error;
};

async function appendPatient(tx: WriteTransaction): Promise<string> {
  const [event] = await appendEvents(tx, testEventContext(), [patientCreated()]);
  return event?.eventId as string;
}

describe("the Debezium relay", () => {
  it("publishes every committed event once and none from rolled-back transactions or savepoints", async () => {
    debezium();
    const reader = await recordsFromNow();
    const rolledBack: string[] = [];
    const committed: string[] = [];

    await writeTransaction(db, async (tx) => {
      rolledBack.push(await appendPatient(tx));
      throw new RollBack();
    }).catch(ignoreRollBack);

    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const longTransaction = writeTransaction(db, async (tx) => {
      rolledBack.push(await appendPatient(tx));
      await held;
      throw new RollBack();
    }).catch(ignoreRollBack);
    for (let i = 0; i < 10; i++) committed.push(await writeTransaction(db, appendPatient));
    release();
    await longTransaction;

    await writeTransaction(db, async (tx) => {
      committed.push(await appendPatient(tx));
      await tx
        .transaction(async (savepoint) => {
          rolledBack.push(await appendPatient(savepoint as WriteTransaction));
          throw new RollBack();
        })
        .catch(ignoreRollBack);
      committed.push(await appendPatient(tx));
    });

    // Wait for the committed events, then a while longer for anything that should not come.
    const records = await reader.readUntil(deliveredAtLeast(committed), { settleMs: 2_000 });
    expect(rolledBack).toHaveLength(3);
    expect(records.filter((record) => rolledBack.includes(record.eventId ?? ""))).toEqual([]);
    expectExactlyOnce(asTapped(records), committed);
  });
});

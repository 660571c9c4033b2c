// Every record fits: an event Kafka could never take (bigger than MAX_EVENT_BYTES as a record) is refused by the
// write path before anything is written, and the largest a 64 KiB request can make still passes.
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { EventTooLarge, MAX_EVENT_BYTES } from "../../events/record.ts";
import { conditionsUpdate, patientCreated, testDatabase, testEventContext } from "../../test/fixtures.ts";
import { writeTransaction } from "../client.ts";
import { appendEvents } from "./appendEvents.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

const rowsOf = async (patientId: string) =>
  (
    await db.$client.query<{ bytes: number }>(
      "SELECT octet_length(payload::text) AS bytes FROM outbox WHERE aggregate_id = $1 ORDER BY position",
      [patientId],
    )
  ).rows;

describe("the write path's event size limit", () => {
  it(`refuses an event above ${MAX_EVENT_BYTES} bytes, naming the limit, and writes nothing of its transaction`, async () => {
    const patientId = randomUUID();
    const write = writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [patientCreated(patientId), conditionsUpdate(patientId, 2_500)]),
    );
    await expect(write).rejects.toBeInstanceOf(EventTooLarge);
    await expect(write).rejects.toThrow(`larger than the ${MAX_EVENT_BYTES} bytes`);
    expect(await rowsOf(patientId)).toEqual([]);
    const { rows } = await db.$client.query(
      "SELECT 1 FROM aggregate_versions WHERE aggregate_type = 'patient' AND aggregate_id = $1",
      [patientId],
    );
    expect(rows).toEqual([]);
  });

  it("accepts an event bigger than a whole 64 KiB request body, sealed", async () => {
    const patientId = randomUUID();
    await writeTransaction(db, (tx) =>
      appendEvents(tx, testEventContext(), [patientCreated(patientId), conditionsUpdate(patientId, 320)]),
    );
    const rows = await rowsOf(patientId);
    expect(rows).toHaveLength(2);
    expect(rows[1]?.bytes).toBeGreaterThan(64 * 1024);
    expect(rows[1]?.bytes).toBeLessThan(MAX_EVENT_BYTES);
  });
});

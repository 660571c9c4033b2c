// Positions are numbers: one transaction's rows come back in numeric order even where the position gains a
// digit (…998, 999, 1000, …), and a batch limit that cuts through a transaction resumes exactly after the cut.
import { afterAll, describe, expect, it } from "vitest";
import { eventually, patientCreated, testDatabase, testEventContext } from "../../test/fixtures.ts";
import { writeTransaction } from "../client.ts";
import { appendEvents } from "./appendEvents.ts";
import { pendingOutboxBatch } from "./pendingOutboxBatch.ts";

const db = testDatabase();
afterAll(() => db.$client.end());

describe("the relay's pending-batch query", () => {
  it("pages through one transaction in numeric position order across a power of ten", async () => {
    const { rows: current } = await db.$client.query<{ max: string | null }>(
      "SELECT max(position)::text AS max FROM outbox",
    );
    // The next power of ten with room for the rows below it: positions then run 10^k - 5 … 10^k + 4.
    let boundary = 10n;
    while (boundary < BigInt(current[0]?.max ?? "0") + 10n) boundary *= 10n;
    await db.$client.query("SELECT setval(pg_get_serial_sequence('outbox', 'position'), $1)", [
      String(boundary - 6n),
    ]);

    const events = await writeTransaction(db, (tx) =>
      appendEvents(
        tx,
        testEventContext(),
        Array.from({ length: 10 }, () => patientCreated()),
      ),
    );
    const { rows } = await db.$client.query<{ txId: string }>(
      `SELECT tx_id::text AS "txId" FROM outbox WHERE event_id = $1`,
      [events[0]?.eventId],
    );
    const txId = rows[0]?.txId as string;

    // Rows are read once every older transaction on the server has ended.
    await eventually(
      async () => (await pendingOutboxBatch(db.$client as never, { txId, position: "0" }, 1)).length > 0,
    );
    const pages: string[][] = [];
    let cursor = { txId, position: "0" };
    for (let page = 0; page < 4; page++) {
      const batch = (await pendingOutboxBatch(db.$client as never, cursor, 4)).filter(
        (row) => row.txId === txId,
      );
      if (batch.length === 0) break;
      pages.push(batch.map((row) => row.position));
      const last = batch.at(-1);
      if (last) cursor = { txId: last.txId, position: last.position };
    }
    const expected = Array.from({ length: 10 }, (_, i) => String(boundary - 5n + BigInt(i)));
    expect(pages).toEqual([expected.slice(0, 4), expected.slice(4, 8), expected.slice(8)]);
  });
});

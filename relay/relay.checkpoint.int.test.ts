// The polling relay's checkpoint: the poll after a published batch saves the cursor that batch moved, in the same
// statement, so a cycle has no round trip of its own for it; an idle poll writes nothing; a relay stopped right
// after a batch saves its cursor before it lets go of the lock.
import { afterAll, describe, expect, it } from "vitest";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import type { OutboxRecord } from "../db/outbox/pendingOutboxBatch.ts";
import type { RelayCursor } from "../db/outbox/relayCheckpoint.ts";
import { eventually, patientCreated, startRelay, testDatabase, testEventContext } from "../test/fixtures.ts";
import type { OutboxRelay } from "./relay.ts";

/** Longer than any wait below: only a poll woken by the commit, or the one right after a batch, runs. */
const IDLE_POLL_MS = 60_000;

const db = testDatabase();
afterAll(async () => {
  await db.$client.end();
});

async function savedCheckpoint(): Promise<(RelayCursor & { updatedAt: Date }) | undefined> {
  const { rows } = await db.$client.query<RelayCursor & { updatedAt: Date }>(
    `SELECT tx_id::text AS "txId", position::text AS "position", updated_at AS "updatedAt"
       FROM relay_checkpoints WHERE name = 'outbox'`,
  );
  return rows[0];
}

/** Three events in one transaction, committed before any relay reads them; their ids. */
async function threeEvents(): Promise<Set<string>> {
  const events = await writeTransaction(db, (tx) =>
    appendEvents(tx, testEventContext(), [patientCreated(), patientCreated(), patientCreated()]),
  );
  return new Set(events.map((event) => event.eventId));
}

/** The cursor after the last of these events, once a batch has published them all. */
function lastOf(ids: Set<string>, batch: readonly OutboxRecord[]): RelayCursor | undefined {
  const ours = batch.filter((row) => ids.has(row.eventId));
  const last = ours.at(-1);
  return ours.length === ids.size && last ? { txId: last.txId, position: last.position } : undefined;
}

describe("the polling relay's checkpoint", () => {
  it("is saved by the poll right after the batch, and not written again by idle polls", async () => {
    const ids = await threeEvents();
    let last: RelayCursor | undefined;
    const relay = startRelay({
      idlePollMs: IDLE_POLL_MS,
      onPublished: (batch) => {
        last ??= lastOf(ids, batch);
      },
    });
    try {
      const published = await eventually(async () => last);
      // Well within the idle poll: the poll that followed the batch at once saved it.
      await eventually(async () => {
        const saved = await savedCheckpoint();
        return saved?.txId === published.txId && saved.position === published.position;
      }, 10_000);
    } finally {
      await relay.stop();
    }

    const before = await savedCheckpoint();
    const idle = startRelay({ idlePollMs: 20 });
    try {
      const polls = idle.pollCount;
      await eventually(async () => idle.pollCount >= polls + 30);
    } finally {
      await idle.stop();
    }
    // Thirty polls that found nothing wrote nothing, not even the checkpoint's time.
    expect(await savedCheckpoint()).toEqual(before);
  });

  it("is saved when the relay stops right after a batch, before the next poll", async () => {
    const ids = await threeEvents();
    let last: RelayCursor | undefined;
    let stopped: Promise<void> | undefined;
    const relay: OutboxRelay = startRelay({
      idlePollMs: IDLE_POLL_MS,
      onPublished: (batch) => {
        last ??= lastOf(ids, batch);
        // Stopping from here ends the loop before the poll that would have saved this batch's cursor.
        if (last) stopped ??= relay.stop();
      },
    });
    await eventually(async () => stopped !== undefined);
    await stopped;
    expect(await savedCheckpoint()).toMatchObject(last as RelayCursor);
  });
});

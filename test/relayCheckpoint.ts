// What a test asks of the polling relay's checkpoint.
import type { Database } from "../db/client.ts";
import { eventually, startRelay } from "./fixtures.ts";

/**
 * Whether the polling relay's checkpoint is still before the event (or there is none: a database whose relay
 * never published): a stalled relay must not have passed, so skipped, what it could not send.
 */
export async function relayCheckpointBefore(db: Database, eventId: string): Promise<boolean> {
  const { rows } = await db.$client.query<{ behind: boolean }>(
    `SELECT NOT EXISTS (SELECT FROM relay_checkpoints c
                         WHERE c.name = 'outbox' AND (c.tx_id, c.position) >= (o.tx_id, o.position)) AS behind
       FROM outbox o WHERE o.event_id = $1`,
    [eventId],
  );
  return rows[0]?.behind === true;
}

/** Whether the polling relay's checkpoint has reached the outbox's last row (an empty outbox: it has). */
export async function relayCaughtUp(db: Database): Promise<boolean> {
  const { rows } = await db.$client.query<{ caughtUp: boolean }>(
    `SELECT NOT EXISTS (SELECT FROM outbox o
                         WHERE NOT EXISTS (SELECT FROM relay_checkpoints c
                                            WHERE c.name = 'outbox' AND (c.tx_id, c.position) >= (o.tx_id, o.position))
                         ORDER BY o.tx_id DESC, o.position DESC LIMIT 1) AS "caughtUp"`,
  );
  return rows[0]?.caughtUp === true;
}

/** Runs a polling relay until it has published everything committed so far, then stops it: what follows is the test's. */
export async function publishEverythingCommitted(db: Database): Promise<void> {
  const relay = startRelay();
  try {
    await eventually(() => relayCaughtUp(db), 60_000);
  } finally {
    await relay.stop();
  }
}

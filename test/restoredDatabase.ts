// A database as a restore from a logical dump leaves it: its outbox rows, checkpoints and archives carry the
// transaction ids of a server ahead of this one, and the relay's cursor with them, so the relay refuses to lead
// until `npm run relay:rebase` re-anchors it. On a database of the test's own (test/ownDatabase.ts): the
// restore is a history no other file may meet.
import { type Database, writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import type { RelayCursor } from "../db/outbox/relayCheckpoint.ts";
import { exampleEvent } from "../events/examples.ts";
import { testEventContext } from "./fixtures.ts";

/**
 * How far ahead of this server's counter the restored history lies. The counter is the server's, shared by every
 * database on it: other work on the server (the other files, another checkout's run) moves it on while a test
 * runs, and a history it catches up with is no longer ahead, so the relay leads again and holds its lock against
 * relay:rebase. A thousand ids were used up within 15 s on the shared test server; relay:rebase closes this gap
 * in about 10 s.
 */
export const RESTORED_AHEAD_BY = 1_000_000;

/** One model's events: one key, so Kafka's order of them on their partition is the order they happened. */
export async function writeModelEvents(db: Database, count: number): Promise<string[]> {
  const events = await writeTransaction(db, (tx) =>
    appendEvents(
      tx,
      testEventContext(),
      Array.from({ length: count }, () => exampleEvent("ai.model.trained")),
    ),
  );
  return events.map((event) => event.eventId);
}

/** The checkpoint of the relay named `name`, as relay_checkpoints holds it. */
export async function relayCheckpoint(db: Database, name = "outbox"): Promise<RelayCursor | undefined> {
  const result = await db.$client.query<RelayCursor>(
    `SELECT tx_id::text AS "txId", position::text AS "position" FROM relay_checkpoints WHERE name = $1`,
    [name],
  );
  return result.rows[0];
}

/**
 * What a restore from a server RESTORED_AHEAD_BY transactions ahead leaves: every row, the checkpoints and the
 * archives carry ids beyond this server's counter, and the relay's checkpoint is at `checkpointAtEventId` (the
 * dump caught it there). Set as a superuser with triggers off (the outbox refuses UPDATE).
 */
export async function restoreFromAServerAhead(db: Database, checkpointAtEventId: string): Promise<void> {
  const client = await db.$client.connect();
  try {
    await client.query("BEGIN");
    await client.query("SET LOCAL session_replication_role = replica");
    const { rows } = await client.query<{ gap: string }>(
      `SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::numeric - min(tx_id::text::numeric) + $1::numeric)::text AS gap
         FROM outbox`,
      [RESTORED_AHEAD_BY],
    );
    const gap = rows[0]?.gap as string;
    const shift = (column: string) => `${column} = (${column}::text::numeric + $1::numeric)::text::xid8`;
    await client.query(`UPDATE outbox SET ${shift("tx_id")}`, [gap]);
    await client.query(`UPDATE outbox_checkpoints SET ${shift("up_to_tx_id")}`, [gap]);
    await client.query(`UPDATE outbox_archives SET ${shift("up_to_tx_id")}`, [gap]);
    await client.query(
      `UPDATE relay_checkpoints c SET tx_id = o.tx_id, position = o.position
         FROM outbox o WHERE c.name = 'outbox' AND o.event_id = $1`,
      [checkpointAtEventId],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  } finally {
    client.release();
  }
}

// The connector's sign of life in the database. Its task runs `heartbeat.action.query` (connectorConfig.ts) every
// heartbeat interval, while idle and while streaming alike, so a `beat_at` that stops moving means the task no
// longer runs, whatever Connect's REST status says: a task killed by a record Kafka refused is reported FAILED only
// once its producer has closed (30 s and more), and RUNNING until then.
import type pg from "pg";
import type { ClientBase } from "pg";

/** The table's name as written into SQL (a name cannot be a query parameter): refused unless a plain identifier. */
function qualified(heartbeatTable: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(heartbeatTable))
    throw new Error(`Invalid heartbeat table: ${heartbeatTable}`);
  return `public.${heartbeatTable}`;
}

/**
 * Seconds since the task last gave a sign of life: its last heartbeat, or the start of the walsender streaming
 * from its slot when that is later (a task just (re)started has not beaten yet). Undefined when there is
 * neither (never beaten, nothing streaming). The walsender's start is only visible to a role that may see
 * other sessions' activity (the connector's own, or pg_read_all_stats); without it, the heartbeat alone counts.
 */
export async function heartbeatSilenceSeconds(
  client: ClientBase | pg.Pool,
  heartbeatTable: string,
  slotName: string,
): Promise<number | undefined> {
  const result = await client.query<{ silence: number | null }>(
    `SELECT extract(epoch FROM now() - greatest(
              (SELECT max(beat_at) FROM ${qualified(heartbeatTable)}),
              (SELECT activity.backend_start
                 FROM pg_replication_slots slot JOIN pg_stat_activity activity ON activity.pid = slot.active_pid
                WHERE slot.slot_name = $1)))::float8 AS silence`,
    [slotName],
  );
  return result.rows[0]?.silence ?? undefined;
}

/**
 * Beats once for a task just registered or restarted (handover/switch.ts): until its walsender connects and its
 * first heartbeat runs, the last beat may be an older task's, long ago, and the new task would look dead.
 */
export async function beatForNewTask(client: ClientBase, heartbeatTable: string): Promise<void> {
  await client.query(
    `INSERT INTO ${qualified(heartbeatTable)} (id, beat_at) VALUES (1, now())
       ON CONFLICT (id) DO UPDATE SET beat_at = EXCLUDED.beat_at`,
  );
}

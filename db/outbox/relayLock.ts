// The polling relay's lead: a session-level advisory lock on (hashtext('outbox-relay'), hashtext(<relay name>)),
// which the relay publishing holds for as long as its session lives (relay/relay.ts); a standby, a re-base and
// a switch to Debezium take it to be sure none publishes. Advisory locks are per database.
import type { ClientBase } from "pg";

/** The name the platform's polling relay publishes the outbox under (its checkpoint's, its lock's). */
export const POLLING_RELAY_NAME = "outbox";

/** Takes the relay's lock in this session if no other session holds it: true when taken. */
export async function tryRelayLock(client: ClientBase, name: string = POLLING_RELAY_NAME): Promise<boolean> {
  const result = await client.query<{ locked: boolean }>(
    "SELECT pg_try_advisory_lock(hashtext('outbox-relay'), hashtext($1)) AS locked",
    [name],
  );
  return result.rows[0]?.locked === true;
}

export async function releaseRelayLock(client: ClientBase, name: string = POLLING_RELAY_NAME): Promise<void> {
  await client.query("SELECT pg_advisory_unlock(hashtext('outbox-relay'), hashtext($1))", [name]);
}

/** The session holding the relay's lock in this database: its server process, application and address. */
export interface RelayLockHolder {
  pid: number;
  application: string | null;
  /** null: a local (Unix socket) connection, or one whose address the reader may not see. */
  client: string | null;
}

/** Who holds the relay's lock in this database; null when no session does (no polling relay publishes). */
export async function relayLockHolder(
  client: ClientBase,
  name: string = POLLING_RELAY_NAME,
): Promise<RelayLockHolder | null> {
  const result = await client.query<RelayLockHolder>(
    `SELECT l.pid, a.application_name AS application, host(a.client_addr) AS client
       FROM pg_locks l LEFT JOIN pg_stat_activity a USING (pid)
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = hashtext('outbox-relay')::oid AND l.objid = hashtext($1)::oid
      LIMIT 1`,
    [name],
  );
  return result.rows[0] ?? null;
}

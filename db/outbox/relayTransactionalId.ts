// The Kafka transactional id of a relay stream: one per relay name and database, so that every relay of one
// stream (they share the database, the lock and the checkpoint) fences the others, and relays of another
// database (another deployment, another test run on the same brokers) never fence this one.
import type { ClientBase } from "pg";

/** What every relay stream's transactional id starts with: the relay's Kafka ACLs name this prefix. */
export const RELAY_TRANSACTIONAL_ID_PREFIX = "outbox-relay-";

/**
 * `outbox-relay-<name>-<database>-<system identifier>`. The system identifier names the cluster (a physical
 * replica promoted after a failover keeps it, so its relays still fence the old primary's); the database
 * name tells apart the databases of one cluster.
 */
export async function relayTransactionalId(client: ClientBase, relayName: string): Promise<string> {
  const result = await client.query<{ database: string; system: string }>(
    "SELECT current_database() AS database, system_identifier::text AS system FROM pg_control_system()",
  );
  const row = result.rows[0] as { database: string; system: string };
  return `${RELAY_TRANSACTIONAL_ID_PREFIX}${relayName}-${row.database}-${row.system}`;
}

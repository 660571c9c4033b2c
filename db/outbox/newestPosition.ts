// The outbox's newest position: how far its history reaches now. A position after it names no event yet.
import type { ClientBase } from "pg";

/** The largest position of a committed outbox row (a primary-key lookup); null when the outbox is empty. */
export async function newestPosition(client: ClientBase): Promise<string | null> {
  const result = await client.query<{ newest: string | null }>(
    `SELECT max(position)::text AS newest FROM outbox`,
  );
  return result.rows[0]?.newest ?? null;
}

// Moves the server's transaction counter forward to a given xid8 by running empty transactions, so that a
// history restored from another server (whose rows carry that server's transaction ids) lies in its past.
import type { ClientBase } from "pg";

/** Empty transactions are cheap (about 200,000 a second); this many take minutes, more need pg_resetwal. */
export const MAX_TRANSACTION_IDS_TO_ADVANCE = 100_000_000n;

export async function nextTransactionId(client: ClientBase): Promise<bigint> {
  const result = await client.query<{ next: string }>(
    "SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS next",
  );
  return BigInt(result.rows[0]?.next as string);
}

/** Until the server's next transaction id is at least `target`; reports progress after each million. */
export async function advanceTransactionIds(
  client: ClientBase,
  target: bigint,
  progress: (next: bigint) => void = () => {},
): Promise<void> {
  // Each empty transaction commits on its own; waiting for the WAL flush of each would only slow it down.
  await client.query("SET synchronous_commit = off");
  try {
    for (let next = await nextTransactionId(client); next < target; next = await nextTransactionId(client)) {
      const count = target - next > 1_000_000n ? 1_000_000n : target - next;
      await client.query(
        `DO $$ BEGIN FOR i IN 1..${count} LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`,
      );
      progress(await nextTransactionId(client));
    }
  } finally {
    await client.query("RESET synchronous_commit");
  }
}

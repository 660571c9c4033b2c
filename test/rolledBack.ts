// A test's writes in a transaction that never commits, so that the shared test database keeps none of them.
import type { Database } from "../db/client.ts";

export type RolledBackTransaction = Parameters<Parameters<Database["transaction"]>[0]>[0];

class RolledBack extends Error {}

/** Runs `work` in a transaction of `db` and rolls it back; what `work` throws is thrown. */
export async function rolledBack(
  db: Database,
  work: (tx: RolledBackTransaction) => Promise<void>,
): Promise<void> {
  await db
    .transaction(async (tx) => {
      await work(tx);
      throw new RolledBack();
    })
    .catch((error: unknown) => {
      if (!(error instanceof RolledBack)) throw error;
    });
}

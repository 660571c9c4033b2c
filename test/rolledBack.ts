// A test's writes in a transaction that never commits, so that the shared test database keeps none of them.
import { type Database, type WriteTransaction, writeTransaction } from "../db/client.ts";

/** A write transaction (what the code under test takes) whose work is always rolled back. */
export type RolledBackTransaction = WriteTransaction;

class RolledBack extends Error {}

/** Runs `work` in a write transaction of `db` and rolls it back; what `work` throws is thrown. */
export async function rolledBack(
  db: Database,
  work: (tx: RolledBackTransaction) => Promise<void>,
): Promise<void> {
  await writeTransaction(db, async (tx) => {
    await work(tx);
    throw new RolledBack();
  }).catch((error: unknown) => {
    if (!(error instanceof RolledBack)) throw error;
  });
}

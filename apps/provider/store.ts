// The provider service's SQL, and the lookup other services use to tell which provider a token acts as.
import { eq, sql } from "drizzle-orm";
import type { WriteTransaction } from "../../db/client.ts";
import { preparedPerConnection } from "../../db/preparedQuery.ts";
import { providers } from "../../db/schema.ts";

export type ProviderRow = typeof providers.$inferSelect;
export type NewProviderRow = typeof providers.$inferInsert;

// Every booking reads its provider: a prepared query (db/preparedQuery.ts), built once per connection.
const providerById = preparedPerConnection((tx) =>
  tx
    .select()
    .from(providers)
    .where(eq(providers.id, sql.placeholder("id")))
    .prepare("providers.find.v1"),
);

export async function findProvider(tx: WriteTransaction, id: string): Promise<ProviderRow | undefined> {
  const [row] = await providerById(tx).execute({ id });
  return row;
}

export async function lockProvider(tx: WriteTransaction, id: string): Promise<ProviderRow | undefined> {
  const [row] = await tx.select().from(providers).where(eq(providers.id, id)).for("update");
  return row;
}

export async function insertProvider(tx: WriteTransaction, row: NewProviderRow): Promise<ProviderRow> {
  const [inserted] = await tx.insert(providers).values(row).returning();
  if (!inserted) throw new Error("insert into providers returned no row");
  return inserted;
}

export async function updateProvider(
  tx: WriteTransaction,
  id: string,
  changes: Partial<NewProviderRow>,
): Promise<ProviderRow> {
  const [updated] = await tx
    .update(providers)
    .set({ ...changes, updatedAt: new Date() })
    .where(eq(providers.id, id))
    .returning();
  if (!updated) throw new Error(`update of provider ${id} returned no row`);
  return updated;
}

/** The unique index that ties one provider profile to one login. */
export const ONE_PROFILE_PER_LOGIN = "providers_user_id";

/** The provider profile a provider's token acts as: the one linked to its subject. */
export async function findProviderOfLogin(
  tx: WriteTransaction,
  userId: string,
): Promise<ProviderRow | undefined> {
  const [row] = await tx.select().from(providers).where(eq(providers.userId, userId));
  return row;
}

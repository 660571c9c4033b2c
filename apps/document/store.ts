// The document service's SQL: document rows (metadata and checksum; the bytes live in object storage) and
// the consents given on them.
import { and, eq, isNull } from "drizzle-orm";
import type { WriteTransaction } from "../../db/client.ts";
import { documentConsents, documents } from "../../db/schema.ts";

export type DocumentRow = typeof documents.$inferSelect;
export type NewDocumentRow = typeof documents.$inferInsert;
export type ConsentRow = typeof documentConsents.$inferSelect;

export async function insertDocument(tx: WriteTransaction, row: NewDocumentRow): Promise<DocumentRow> {
  const [inserted] = await tx.insert(documents).values(row).returning();
  if (!inserted) throw new Error("insert into documents returned no row");
  return inserted;
}

/** A document that has not been deleted; locked for the rest of the transaction when asked. */
export async function findDocument(
  tx: WriteTransaction,
  id: string,
  options: { lock?: boolean } = {},
): Promise<DocumentRow | undefined> {
  const query = tx
    .select()
    .from(documents)
    .where(and(eq(documents.id, id), isNull(documents.deletedAt)));
  const [row] = options.lock ? await query.for("update") : await query;
  return row;
}

export async function updateDocument(
  tx: WriteTransaction,
  id: string,
  changes: Partial<NewDocumentRow>,
): Promise<DocumentRow> {
  const [updated] = await tx
    .update(documents)
    .set({ ...changes, updatedAt: new Date() })
    .where(eq(documents.id, id))
    .returning();
  if (!updated) throw new Error(`update of document ${id} returned no row`);
  return updated;
}

export async function insertConsent(
  tx: WriteTransaction,
  row: typeof documentConsents.$inferInsert,
): Promise<ConsentRow> {
  const [inserted] = await tx.insert(documentConsents).values(row).returning();
  if (!inserted) throw new Error("insert into document_consents returned no row");
  return inserted;
}

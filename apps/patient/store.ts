// The patient service's SQL: reading and changing patient rows (events go through appendEvents).
import { and, eq, isNull } from "drizzle-orm";
import type { WriteTransaction } from "../../db/client.ts";
import { patients } from "../../db/schema.ts";

export type PatientRow = typeof patients.$inferSelect;
export type NewPatientRow = typeof patients.$inferInsert;

const live = (id: string) => and(eq(patients.id, id), isNull(patients.deletedAt));

export async function findPatient(tx: WriteTransaction, id: string): Promise<PatientRow | undefined> {
  const [row] = await tx.select().from(patients).where(live(id));
  return row;
}

/** Locks the patient's row for the rest of the transaction, so the change is computed from its latest state. */
export async function lockPatient(tx: WriteTransaction, id: string): Promise<PatientRow | undefined> {
  const [row] = await tx.select().from(patients).where(live(id)).for("update");
  return row;
}

export async function insertPatient(tx: WriteTransaction, row: NewPatientRow): Promise<PatientRow> {
  const [inserted] = await tx.insert(patients).values(row).returning();
  if (!inserted) throw new Error("insert into patients returned no row");
  return inserted;
}

export async function updatePatient(
  tx: WriteTransaction,
  id: string,
  changes: Partial<NewPatientRow>,
): Promise<PatientRow> {
  const [updated] = await tx
    .update(patients)
    .set({ ...changes, updatedAt: new Date() })
    .where(eq(patients.id, id))
    .returning();
  if (!updated) throw new Error(`update of patient ${id} returned no row`);
  return updated;
}

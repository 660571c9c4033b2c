// The patient service's SQL: reading and changing patient rows (events go through appendEvents). Each statement
// is a prepared query (db/preparedQuery.ts): the routes run them on every request.
import { and, eq, getTableColumns, isNull, sql } from "drizzle-orm";
import type { WriteTransaction } from "../../db/client.ts";
import { encodedPlaceholder, encodedValue, preparedPerConnection } from "../../db/preparedQuery.ts";
import { patients } from "../../db/schema.ts";

export type PatientRow = typeof patients.$inferSelect;
export type NewPatientRow = typeof patients.$inferInsert;
/** What a registration sets; the consents and times take their defaults. */
export type RegisteredPatient = Required<
  Pick<
    NewPatientRow,
    | "id"
    | "userId"
    | "firstName"
    | "lastName"
    | "dateOfBirth"
    | "email"
    | "phone"
    | "insuranceInfo"
    | "medicalConditions"
    | "allergies"
  >
>;

const live = and(eq(patients.id, sql.placeholder("id")), isNull(patients.deletedAt));
const livePatient = preparedPerConnection((tx) =>
  tx.select().from(patients).where(live).prepare("patients.find-live.v1"),
);
const lockedLivePatient = preparedPerConnection((tx) =>
  tx.select().from(patients).where(live).for("update").prepare("patients.lock-live.v1"),
);

export async function findPatient(tx: WriteTransaction, id: string): Promise<PatientRow | undefined> {
  const [row] = await livePatient(tx).execute({ id });
  return row;
}

/** Locks the patient's row for the rest of the transaction, so the change is computed from its latest state. */
export async function lockPatient(tx: WriteTransaction, id: string): Promise<PatientRow | undefined> {
  const [row] = await lockedLivePatient(tx).execute({ id });
  return row;
}

const registration = preparedPerConnection((tx) =>
  tx
    .insert(patients)
    .values({
      id: sql.placeholder("id"),
      userId: sql.placeholder("userId"),
      firstName: sql.placeholder("firstName"),
      lastName: sql.placeholder("lastName"),
      dateOfBirth: sql.placeholder("dateOfBirth"),
      email: sql.placeholder("email"),
      phone: sql.placeholder("phone"),
      insuranceInfo: encodedPlaceholder("insuranceInfo"),
      medicalConditions: sql.placeholder("medicalConditions"),
      allergies: sql.placeholder("allergies"),
    })
    .returning()
    .prepare("patients.insert.v1"),
);

/** The unique index that keeps one live patient record per login (db/schema.ts). */
export const ONE_LIVE_RECORD_PER_LOGIN = "patients_user_id_live";

export async function insertPatient(tx: WriteTransaction, row: RegisteredPatient): Promise<PatientRow> {
  const [inserted] = await registration(tx).execute({
    ...row,
    insuranceInfo: encodedValue(patients.insuranceInfo, row.insuranceInfo),
  });
  if (!inserted) throw new Error("insert into patients returned no row");
  return inserted;
}

type PatientColumn = keyof PatientRow;
type PreparedUpdate = ReturnType<typeof prepareUpdate>;

/**
 * An UPDATE sets the columns a change names and no others, so there is one statement per set of columns (in
 * practice a few: the fields a PATCH names, a deletion, a consent): each is prepared the first time a connection
 * needs it. Their names are numbered in the order the process meets them (a name of Postgres's holds 63 bytes,
 * fewer than some lists of columns).
 */
const columnsInOrder = Object.keys(getTableColumns(patients)) as PatientColumn[];
const updatesOn = preparedPerConnection(() => new Map<string, PreparedUpdate>());
const updateNames = new Map<string, string>();

function prepareUpdate(tx: WriteTransaction, columns: readonly PatientColumn[], name: string) {
  const set = Object.fromEntries(columns.map((column) => [column, encodedPlaceholder(column)]));
  return tx
    .update(patients)
    .set(set)
    .where(eq(patients.id, sql.placeholder("id")))
    .returning()
    .prepare(name);
}

export async function updatePatient(
  tx: WriteTransaction,
  id: string,
  changes: Partial<NewPatientRow>,
): Promise<PatientRow> {
  const values: Partial<Record<PatientColumn, unknown>> = { ...changes, updatedAt: new Date() };
  // As drizzle's `set` does, a column given undefined is left out.
  const columns = columnsInOrder.filter((column) => values[column] !== undefined);
  const key = columns.join(",");
  const updates = updatesOn(tx);
  let update = updates.get(key);
  if (!update) {
    let name = updateNames.get(key);
    if (!name) {
      name = `patients.update.v1.${updateNames.size + 1}`;
      updateNames.set(key, name);
    }
    update = prepareUpdate(tx, columns, name);
    updates.set(key, update);
  }
  const [updated] = await update.execute({
    id,
    ...Object.fromEntries(columns.map((column) => [column, encodedValue(patients[column], values[column])])),
  });
  if (!updated) throw new Error(`update of patient ${id} returned no row`);
  return updated;
}

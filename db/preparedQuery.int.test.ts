// A prepared query is built once per pooled connection and runs on the write transaction's own connection: it
// sees what the transaction wrote before it commits, in a savepoint too, and a second connection builds its own.
import { randomUUID } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { databaseUrl } from "../test/fixtures.ts";
import { createDatabase, type WriteTransaction, writeTransaction } from "./client.ts";
import { preparedPerConnection } from "./preparedQuery.ts";
import { patients } from "./schema.ts";

const db = createDatabase(databaseUrl(), { max: 2, applicationName: "prepared-query-test" });
afterAll(() => db.$client.end());

let built = 0;
const patientName = preparedPerConnection((tx) => {
  built++;
  return tx
    .select({ firstName: patients.firstName })
    .from(patients)
    .where(eq(patients.id, sql.placeholder("id")))
    .prepare("test.patient-name.v1");
});

const insertPatient = (tx: WriteTransaction, id: string) =>
  tx.insert(patients).values({
    id,
    firstName: "Ada",
    lastName: "Lovelace",
    dateOfBirth: "1815-12-10",
    email: "ada@example.org",
    phone: "+441234567890",
  });

describe("a prepared query", () => {
  it("runs on the write transaction's connection, in a savepoint too, and is built once per connection", async () => {
    const id = randomUUID();
    const seen = await writeTransaction(db, async (tx) => {
      await insertPatient(tx, id);
      const inTransaction = await patientName(tx).execute({ id });
      const inSavepoint = await tx.transaction((savepoint) =>
        patientName(savepoint as WriteTransaction).execute({ id }),
      );
      throw Object.assign(new Error("roll back"), { seen: [inTransaction, inSavepoint] });
    }).catch((error: { seen: unknown }) => error.seen);
    expect(seen).toEqual([[{ firstName: "Ada" }], [{ firstName: "Ada" }]]);
    expect(built).toBe(1);

    // Two transactions at once hold both of the pool's connections: the other one builds its own.
    const other = randomUUID();
    let bothInside: () => void = () => {};
    const inside = new Promise<void>((resolve) => {
      let count = 0;
      bothInside = () => ++count === 2 && resolve();
    });
    const names = await Promise.all(
      [id, other].map((patientId) =>
        writeTransaction(db, async (tx) => {
          bothInside();
          await inside;
          return patientName(tx).execute({ id: patientId });
        }),
      ),
    );
    expect(names).toEqual([[], []]);
    expect(built).toBe(2);
  });
});

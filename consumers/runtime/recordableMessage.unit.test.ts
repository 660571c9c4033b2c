// A dead letter's error message never carries what a database error or a failed parse quoted of the event.
import { DrizzleQueryError } from "drizzle-orm";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { recordableMessage } from "./recordableMessage.ts";

const personal = "ada@example.org";

function postgresError(fields: Partial<pg.DatabaseError>): pg.DatabaseError {
  const error = new pg.DatabaseError(
    `duplicate key value violates unique constraint "patients_email" ${personal}`,
    100,
    "error",
  );
  return Object.assign(error, { detail: `Key (email)=(${personal}) already exists.` }, fields);
}

describe("the message a dead letter records of a handler's error", () => {
  it("names a Postgres error by its SQLSTATE and schema names, not by what it quoted", () => {
    const refused = postgresError({ code: "23505", constraint: "patients_email", table: "patients" });
    const message = recordableMessage(refused);
    expect(message).toBe(
      "Postgres refused the statement: SQLSTATE 23505 (constraint patients_email, table patients); its message, which may quote the values refused, is not recorded",
    );
    expect(message).not.toContain(personal);
  });

  it("looks under drizzle's wrapper, whose message lists the query's parameters", () => {
    const wrapped = new DrizzleQueryError(
      "insert into patients (email) values ($1)",
      [personal],
      postgresError({ code: "22P02" }),
    );
    expect(wrapped.message).toContain(personal);
    expect(recordableMessage(wrapped)).toMatch(/^Postgres refused the statement: SQLSTATE 22P02;/);
    expect(recordableMessage(new DrizzleQueryError("select 1", [personal]))).not.toContain(personal);
  });

  it("records a SyntaxError by its kind, and the project's own errors by their message", () => {
    const parse = (() => {
      try {
        JSON.parse(`${personal} is not JSON`);
      } catch (error) {
        return error;
      }
    })();
    expect(String((parse as Error).message)).toContain("ada@");
    expect(recordableMessage(parse)).not.toContain("ada@");
    expect(recordableMessage(new TypeError("Cannot read properties of undefined"))).toBe(
      "Cannot read properties of undefined",
    );
    expect(recordableMessage(personal)).toBe("a thrown string, not an Error");
  });
});

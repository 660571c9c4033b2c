// A dead letter's error message never carries what a database error, a library's error or a failed parse quoted
// of the event.
import { DrizzleQueryError } from "drizzle-orm";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { PatientErased } from "../../db/patientKeys.ts";
import { RecipientNotKnownYet } from "../notifications/notificationRequests.ts";
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

  it("records the project's data-free errors by their message", () => {
    const erased = new PatientErased("0b9e4f52-6d5c-4f7e-9a43-2f8f0b4a1c11");
    expect(recordableMessage(erased)).toBe(erased.message);
    const waiting = new RecipientNotKnownYet("0b9e4f52-6d5c-4f7e-9a43-2f8f0b4a1c11");
    expect(recordableMessage(waiting)).toBe(
      "patient 0b9e4f52-6d5c-4f7e-9a43-2f8f0b4a1c11 is not in the patient directory yet",
    );
  });

  it("records any other error by its name, code and the project's line it came through, never its message", () => {
    const parse = (() => {
      try {
        JSON.parse(`${personal} is not JSON`);
      } catch (error) {
        return error;
      }
    })();
    expect(String((parse as Error).message)).toContain("ada@");
    expect(recordableMessage(parse)).toMatch(
      /^SyntaxError at consumers\/runtime\/recordableMessage\.unit\.test\.ts:\d+:\d+; its message, which may quote the data it was given, is not recorded$/,
    );

    // As an SMTP library reports a refused recipient.
    const refused = Object.assign(
      new Error(`Can't send mail - all recipients were rejected: 550 <${personal}>`),
      {
        code: "EENVELOPE",
      },
    );
    expect(recordableMessage(refused)).toMatch(
      /^Error \(code EENVELOPE\) at consumers\/runtime\/recordableMessage\.unit\.test\.ts:\d+:\d+; its message/,
    );
    expect(recordableMessage(new TypeError("Cannot read properties of undefined"))).not.toContain(
      "Cannot read",
    );
    expect(recordableMessage(personal)).toBe("a thrown string, not an Error");
  });

  it("takes nothing a message or a name chose for a name, a code or a line of code", () => {
    const imitation = Object.assign(new Error("x"), {
      name: `${personal} `,
      code: `550 ${personal}`,
      stack: `Error: refused\n    at ${personal} (${process.cwd()}/package.json:1:1)\n    at ${process.cwd()}/${personal}.ts:1:1`,
    });
    expect(recordableMessage(imitation)).toBe(
      "an error at package.json:1:1; its message, which may quote the data it was given, is not recorded",
    );
    expect(recordableMessage(Object.assign(new Error("x"), { stack: undefined }))).toBe(
      "Error; its message, which may quote the data it was given, is not recorded",
    );
  });
});

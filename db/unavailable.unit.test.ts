// What tells Postgres being unavailable now from the work asking something wrong: the services answer the first
// 503 (retry later) and the consumers wait it out; the second is a 4xx or 500, or the record's own failure.
import { describe, expect, it } from "vitest";
import { databaseUnavailable } from "./unavailable.ts";

const withCode = (code: string, message = "query failed") => Object.assign(new Error(message), { code });

describe("databaseUnavailable", () => {
  it.each([
    ["08006", "connection_failure"],
    ["08P01", "protocol_violation"],
    ["53100", "disk_full"],
    ["53200", "out_of_memory"],
    ["53300", "too_many_connections"],
    ["57014", "query_canceled: statement_timeout, or an administrator's pg_cancel_backend"],
    ["57P01", "admin_shutdown: pg_terminate_backend, or a fast shutdown"],
    ["57P03", "cannot_connect_now: the server starting"],
    ["57P05", "idle_session_timeout"],
    ["25P03", "idle_in_transaction_session_timeout"],
    ["25P04", "transaction_timeout"],
    ["55P03", "lock_not_available: lock_timeout"],
    ["ECONNREFUSED", "nothing listens"],
    ["ENOTFOUND", "no such host"],
  ])("takes %s (%s) for the database unavailable", (code) => {
    expect(databaseUnavailable(withCode(code))).toBe(true);
  });

  it("reads node-postgres's code-less messages, the causes drizzle and the consumers wrap, and each of an AggregateError's", () => {
    expect(databaseUnavailable(new Error("Connection terminated unexpectedly"))).toBe(true);
    expect(databaseUnavailable(new Error("timeout exceeded when trying to connect"))).toBe(true);
    expect(
      databaseUnavailable(new Error("Client has encountered a connection error and is not queryable")),
    ).toBe(true);
    expect(databaseUnavailable(new Error("Failed query", { cause: withCode("57014") }))).toBe(true);
    expect(
      databaseUnavailable(new AggregateError([withCode("ECONNREFUSED"), withCode("ECONNREFUSED")])),
    ).toBe(true);
    // A database closed to connections says so with 55000, which statements raise for their own reasons too.
    expect(
      databaseUnavailable(withCode("55000", 'database "healthcare" is not currently accepting connections')),
    ).toBe(true);
    expect(databaseUnavailable(withCode("55000", "replication slot is active"))).toBe(false);
  });

  it("tells a database closed to connections by the routine that refused it, in a server's every language", () => {
    const closed = (message: string, routine: string) =>
      Object.assign(withCode("55000", message), { routine });
    // What PostgreSQL 15 answers (checked against ALTER DATABASE … ALLOW_CONNECTIONS false), and in French.
    expect(
      databaseUnavailable(
        closed('database "healthcare" is not currently accepting connections', "CheckMyDatabase"),
      ),
    ).toBe(true);
    expect(
      databaseUnavailable(
        closed("la base de données « healthcare » n'accepte plus les connexions", "CheckMyDatabase"),
      ),
    ).toBe(true);
    // A statement's 55000 is the work's, whatever its words say.
    expect(
      databaseUnavailable(closed("is not currently accepting connections", "ReplicationSlotAcquire")),
    ).toBe(false);
  });

  it.each([
    ["23505", "unique_violation"],
    ["23503", "foreign_key_violation"],
    ["22P02", "invalid_text_representation"],
    ["42P01", "undefined_table"],
    ["40001", "serialization_failure: contention, which writeTransaction retries"],
  ])("takes %s (%s) for the work's own", (code) => {
    expect(databaseUnavailable(withCode(code))).toBe(false);
  });

  it("stops at an error that is its own cause, and takes what is no error for none", () => {
    const loop: Error & { cause?: unknown } = new Error("loop");
    loop.cause = loop;
    expect(databaseUnavailable(loop)).toBe(false);
    expect(databaseUnavailable("a string")).toBe(false);
    expect(databaseUnavailable(undefined)).toBe(false);
  });
});

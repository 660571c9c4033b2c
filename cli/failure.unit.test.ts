// What a command says when it stops on an error, as a specification: the operator's problems and the commands'
// refusals in one line, exit code 1; a fault of the code as an internal error with its stack, exit code 70; and
// never a query's parameters or a value an error quotes. The faults are thrown for real (a TypeError from a bad
// property access, an assertion, JSON.parse), not made up.
import assert from "node:assert";
import { readFileSync } from "node:fs";
import { DrizzleQueryError } from "drizzle-orm";
import kafkajs from "kafkajs";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConfigError } from "../config/env.ts";
import {
  classifyFailure,
  EXIT_FAILED,
  EXIT_INTERNAL_ERROR,
  failureMessage,
  reportFailure,
} from "./failure.ts";

const personal = "ada@example.org";

/** What `work` throws. */
function thrownBy(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error("nothing was thrown");
}

/** A Postgres error as pg hands it over, with the fields the server sent. */
function postgresError(code: string, message: string, fields: Partial<pg.DatabaseError> = {}) {
  return Object.assign(new pg.DatabaseError(message, 100, "error"), { code, severity: "ERROR", ...fields });
}

/** What reportFailure writes on stderr, and the exit code it returns. */
function reported(error: unknown, command?: string): { code: number; stderr: string } {
  const write = process.stderr.write;
  let stderr = "";
  process.stderr.write = ((chunk: string) => {
    stderr += chunk;
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: reportFailure(error, command), stderr };
  } finally {
    process.stderr.write = write;
  }
}

describe("a fault of the code", () => {
  const typeError = thrownBy(() => (JSON.parse("null") as { claimedAt: Date }).claimedAt.toISOString());

  it("is an internal error: a TypeError, a RangeError, a failed assertion, a thrown non-Error", () => {
    const faults = [
      typeError,
      thrownBy(() => new Date(Number.NaN).toISOString()),
      thrownBy(() => assert.strictEqual(1, 2)),
      "a string thrown",
    ];
    for (const fault of faults) expect(classifyFailure(fault).kind, String(fault)).toBe("internal");
  });

  it("is reported with exit code 70, named an internal error, with its stack", () => {
    const { code, stderr } = reported(typeError, "notifications:resolve");
    expect(code).toBe(EXIT_INTERNAL_ERROR);
    const [first, header, ...frames] = stderr.trimEnd().split("\n");
    expect(first).toMatch(/^notifications:resolve failed: internal error: a fault of the code/);
    expect(header).toBe("TypeError: Cannot read properties of null (reading 'claimedAt')");
    expect(frames[0]).toMatch(/^\s+at .*cli\/failure\.unit\.test\.ts:\d+:\d+/);
  });

  it("is a Postgres error the code did not expect, told without the detail or the value it quotes", () => {
    const duplicate = postgresError(
      "23505",
      'duplicate key value violates unique constraint "patients_email"',
      {
        detail: `Key (email)=(${personal}) already exists.`,
        table: "patients",
        constraint: "patients_email",
      },
    );
    const badInput = postgresError("22P02", `invalid input syntax for type uuid: "${personal}"`);
    for (const error of [duplicate, badInput]) {
      const failure = classifyFailure(error);
      expect(failure.kind).toBe("internal");
      expect(JSON.stringify(failure)).not.toContain("ada@");
    }
    expect(classifyFailure(duplicate)).toMatchObject({
      report: expect.stringMatching(
        /^Postgres error 23505: duplicate key value .* \(table patients, constraint patients_email\)/,
      ),
    });
    expect(classifyFailure(badInput)).toMatchObject({
      report: expect.stringMatching(
        /^Postgres error 22P02: invalid input syntax for type uuid: "\(withheld\)"/,
      ),
    });
  });

  it("under drizzle's failed query is told with the query and its stack, never its parameters", () => {
    const cause = postgresError("23505", 'duplicate key value violates unique constraint "patients_email"');
    const failed = new DrizzleQueryError("insert into patients (email) values ($1)", [personal], cause);
    const { code, stderr } = reported(failed, "phi:rewrap");
    expect(code).toBe(EXIT_INTERNAL_ERROR);
    expect(stderr).not.toContain("ada@");
    expect(stderr).toContain(
      "DrizzleQueryError: failed query (parameters withheld): insert into patients (email) values ($1)",
    );
    expect(stderr).toMatch(/^\s+at .*cli\/failure\.unit\.test\.ts/m);
    expect(stderr).toContain("caused by: Postgres error 23505");
  });

  it("withholds the text JSON.parse and BigInt quote", () => {
    for (const error of [
      thrownBy(() => JSON.parse(`${personal} is not JSON`)),
      thrownBy(() => BigInt(personal)),
    ]) {
      const { code, stderr } = reported(error);
      expect(code).toBe(EXIT_INTERNAL_ERROR);
      expect(stderr).toContain("SyntaxError: ");
      expect(stderr).not.toContain("ada@");
    }
  });

  it("under a KafkaJS retry that gave up on it is still a fault", () => {
    const wrapped = Object.assign(new Error(typeError instanceof Error ? typeError.message : ""), {
      name: "KafkaJSNonRetriableError",
      cause: typeError,
    });
    expect(classifyFailure(wrapped).kind).toBe("internal");
    expect(failureMessage(wrapped)).toMatch(/^internal error: KafkaJSNonRetriableError: /);
  });
});

describe("the operator's problem", () => {
  const notMigrated = postgresError("42P01", 'relation "outbox" does not exist');
  // The database is the one DATABASE_URL names, unless a test says otherwise.
  beforeEach(() => {
    vi.stubEnv("DATABASE_URL", "postgres://db.example.org/healthcare");
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("is one line naming what to fix, exit code 1, however deep drizzle's failed query wraps it", () => {
    const refused = postgresError("3D000", 'database "nowhere" does not exist');
    const cases: Array<[unknown, string]> = [
      [
        new DrizzleQueryError("select id from patients where email = $1", [personal], refused),
        'Postgres refused the connection DATABASE_URL describes: database "nowhere" does not exist',
      ],
      [
        new DrizzleQueryError("select 1 from outbox", [], notMigrated),
        `the database DATABASE_URL names is not migrated, or not this project's (relation "outbox" does not exist): run npm run db:migrate against it`,
      ],
      [
        postgresError("42501", "permission denied for table outbox"),
        "the role DATABASE_URL logs in as lacks a privilege this command needs (permission denied for table outbox): grant it, or use the project's role",
      ],
      [
        postgresError("25006", "cannot execute UPDATE in a read-only transaction"),
        "the server DATABASE_URL names takes no writes (cannot execute UPDATE in a read-only transaction): a standby, or default_transaction_read_only; point DATABASE_URL at the primary",
      ],
      [
        new ConfigError(["PHI_MASTER_KEYS: not base64"]),
        new ConfigError(["PHI_MASTER_KEYS: not base64"]).message,
      ],
    ];
    for (const [error, message] of cases) {
      expect(classifyFailure(error)).toEqual({ kind: "operator", message });
      expect(reported(error, "audit:verify")).toEqual({
        code: EXIT_FAILED,
        stderr: `audit:verify failed: ${message}\n`,
      });
    }
  });

  it("names KAFKA_BROKERS when a broker closes the connection, as when it refuses it", () => {
    // The error kafkajs throws, which its type definitions leave out.
    const { KafkaJSConnectionClosedError } = kafkajs as unknown as {
      KafkaJSConnectionClosedError: new (message: string, broker: { host: string; port: number }) => Error;
    };
    const closed = new KafkaJSConnectionClosedError("Closed connection", {
      host: "10.255.255.1",
      port: 9092,
    });
    const gaveUp = new kafkajs.KafkaJSNumberOfRetriesExceeded(closed, { retryCount: 5, retryTime: 300 });
    for (const error of [closed, gaveUp]) {
      expect(classifyFailure(error)).toEqual({
        kind: "operator",
        message: `Kafka cannot be reached at the brokers KAFKA_BROKERS names: ${error.message}`,
      });
    }
  });

  it("names the project's own database, not DATABASE_URL, when that is unset or empty", () => {
    for (const unset of [undefined, ""]) {
      vi.stubEnv("DATABASE_URL", unset);
      expect(failureMessage(notMigrated)).toBe(
        `the project's own database, which a command uses while DATABASE_URL is unset, is not migrated (relation "outbox" does not exist): run npm run db:migrate, or set DATABASE_URL to the database meant`,
      );
    }
  });

  it("tells a database closed to new connections (ALLOW_CONNECTIONS false) as that, to run again", () => {
    const closed = postgresError("55000", 'database "healthcare" is not currently accepting connections');
    expect(classifyFailure(closed)).toEqual({
      kind: "operator",
      message:
        'the database DATABASE_URL names takes no new connections now (database "healthcare" is not currently accepting connections): run it again once it does',
    });
  });

  it("tells a closed database by the routine that refused it when the server speaks another language", () => {
    const message = "Datenbank »healthcare« akzeptiert gegenwärtig keine Verbindungen";
    const closed = postgresError("55000", message, { severity: "FATAL", routine: "CheckMyDatabase" });
    expect(classifyFailure(closed)).toEqual({
      kind: "operator",
      message: `the database DATABASE_URL names takes no new connections now (${message}): run it again once it does`,
    });
  });

  it("names the file behind a client's error", () => {
    const missing = thrownBy(() => readFileSync("/no/such/file"));
    expect(classifyFailure(new Error("could not read the key", { cause: missing }))).toEqual({
      kind: "operator",
      message: "ENOENT: no such file or directory, open '/no/such/file'",
    });
  });

  it("names the HTTP service that does not answer, not Postgres, when fetch fails to connect", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8083"), {
      code: "ECONNREFUSED",
      address: "127.0.0.1",
      port: 8083,
    });
    const fetchFailed = new TypeError("fetch failed", { cause: refused });
    const connect = new Error(
      "Kafka Connect at http://127.0.0.1:8083 did not answer GET /connectors: fetch failed",
      {
        cause: fetchFailed,
      },
    );
    expect(classifyFailure(connect)).toEqual({ kind: "operator", message: connect.message });
    expect(failureMessage(fetchFailed)).toBe(
      "an HTTP service cannot be reached: connect ECONNREFUSED 127.0.0.1:8083",
    );
  });
});

describe("a command's own refusal", () => {
  it("is its message in one line, exit code 1: the project's errors, and the driver's that are not the server's", () => {
    const refusal = new Error("refusing to archive: position 12: its chain link does not verify");
    expect(reported(refusal, "audit:archive")).toEqual({
      code: EXIT_FAILED,
      stderr: `audit:archive failed: ${refusal.message}\n`,
    });
    expect(classifyFailure(new Error("Connection terminated"))).toEqual({
      kind: "refused",
      message: "Connection terminated",
    });
  });

  it("is not a connection the server ended under a query (pg says so without a code): that is run again", () => {
    for (const words of [
      "Connection terminated unexpectedly",
      "Connection terminated due to connection timeout",
      "Client has encountered a connection error and is not queryable",
    ]) {
      const dropped = new DrizzleQueryError("select 1", [personal], new Error(words));
      vi.stubEnv("DATABASE_URL", "postgres://db.example.org/healthcare");
      expect(classifyFailure(dropped)).toEqual({
        kind: "operator",
        message: `Postgres at the server DATABASE_URL names ended the connection (${words}): run it again`,
      });
      vi.unstubAllEnvs();
    }
  });

  it("names the project's own Postgres and its port, not DATABASE_URL, when DATABASE_URL is unset or empty", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5433"), {
      code: "ECONNREFUSED",
      address: "127.0.0.1",
      port: 5433,
    });
    const closed = postgresError("55000", 'database "healthcare" is not currently accepting connections');
    for (const unset of [undefined, ""]) {
      vi.stubEnv("DATABASE_URL", unset);
      expect(failureMessage(refused)).toBe(
        "Postgres cannot be reached at the project's own Postgres (POSTGRES_PORT; DATABASE_URL is unset) (127.0.0.1:5433): connect ECONNREFUSED 127.0.0.1:5433",
      );
      expect(failureMessage(closed)).toBe(
        `the project's own database (POSTGRES_PORT; DATABASE_URL is unset) takes no new connections now (database "healthcare" is not currently accepting connections): run it again once it does`,
      );
      vi.unstubAllEnvs();
    }
  });

  it("is not a session Postgres ended on a timeout it sets: that is run again, naming the timeout", () => {
    const ended = Object.assign(new Error("terminating connection due to idle-in-transaction timeout"), {
      code: "25P03",
      severity: "FATAL",
    });
    expect(classifyFailure(ended)).toEqual({
      kind: "operator",
      message:
        "Postgres ended the session on a timeout its server, database or role sets (terminating connection due to idle-in-transaction timeout): run it again",
    });
  });
});

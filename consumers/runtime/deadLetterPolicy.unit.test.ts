// The dead-letter policy as a specification: bounded attempts for a failing handler, patience for an outage.
import { describe, expect, it } from "vitest";
import { RestoredHistoryAhead } from "../../db/outbox/insertOutboxRows.ts";
import { MasterKeyMissing, MasterKeyRejected } from "../../db/patientKeys.ts";
import { deadLetterAfterAttempts, isPlatformOutage, PrerequisiteNotYetMet } from "./deadLetterPolicy.ts";

const backoff = { delayMs: (attempt: number) => attempt * 100 };
const policy = deadLetterAfterAttempts({ maxAttempts: 3, backoff });

describe("the dead-letter policy", () => {
  it("retries a failing handler with the backoff's delay, then gives up after the last attempt", () => {
    const error = new Error("template not found");
    expect(policy.afterFailure(error, 1)).toEqual({ action: "retry", delayMs: 100 });
    expect(policy.afterFailure(error, 2)).toEqual({ action: "retry", delayMs: 200 });
    expect(policy.afterFailure(error, 3)).toEqual({ action: "dead-letter", reason: "attempts-exhausted" });
  });

  it("never dead-letters a record because Postgres is unreachable, however long it lasts", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5433"), { code: "ECONNREFUSED" });
    expect(policy.afterFailure(refused, 3, 50)).toEqual({ action: "wait-for-platform", delayMs: 5_000 });
  });

  it("waits for a prerequisite without counting attempts, then counts them once the wait is over", () => {
    const waiting = new PrerequisiteNotYetMet("patient p-1 is not in the patient directory yet");
    const patient = deadLetterAfterAttempts({ maxAttempts: 3, backoff, prerequisiteWaitMs: 10_000 });
    expect(patient.afterFailure(waiting, 1, 40, 9_999)).toEqual({
      action: "wait-for-prerequisite",
      delayMs: 4_000,
    });
    expect(patient.afterFailure(waiting, 1, 41, 10_000)).toEqual({ action: "retry", delayMs: 100 });
    expect(patient.afterFailure(waiting, 3, 43, 10_500)).toEqual({
      action: "dead-letter",
      reason: "attempts-exhausted",
    });
    // Two minutes unless set.
    expect(policy.afterFailure(waiting, 3, 3, 119_000).action).toBe("wait-for-prerequisite");
    expect(policy.afterFailure(waiting, 3, 3, 120_000).action).toBe("dead-letter");
  });

  it("takes a lost connection, a shutting-down server or exhausted contention retries for an outage", () => {
    const withCode = (code: string) => Object.assign(new Error("query failed"), { code });
    expect(isPlatformOutage(withCode("57P01"))).toBe(true); // admin_shutdown
    expect(isPlatformOutage(withCode("08006"))).toBe(true); // connection_failure
    expect(isPlatformOutage(withCode("53300"))).toBe(true); // too_many_connections
    expect(isPlatformOutage(withCode("40001"))).toBe(true); // serialization_failure
    expect(isPlatformOutage(new Error("Connection terminated unexpectedly"))).toBe(true);
    // Work the server or an operator's timeout ended: idle_in_transaction_session_timeout, statement_timeout.
    expect(isPlatformOutage(withCode("25P03"))).toBe(true);
    expect(isPlatformOutage(withCode("57014"))).toBe(true);
    // The session ended under the transaction: its ROLLBACK, sent on the dead connection, has no code.
    expect(
      isPlatformOutage(new Error("Client has encountered a connection error and is not queryable")),
    ).toBe(true);
    // drizzle wraps the driver's error: the cause decides.
    expect(isPlatformOutage(new Error("Failed query", { cause: withCode("57P01") }))).toBe(true);
    // A restored database refuses events until an operator runs relay:rebase: no record is at fault.
    expect(isPlatformOutage(new Error("handler failed", { cause: new RestoredHistoryAhead() }))).toBe(true);
  });

  it("waits, however long, while this process's master keys cannot unwrap the key of the patient a handler writes about", () => {
    // PHI_MASTER_KEYS lacks the key, or holds other bytes under its id: every such record would be parked.
    const rejected = new MasterKeyRejected("2026-01", "5f0c3c8e-1d2b-4c6a-9e7f-0a1b2c3d4e5f");
    expect(policy.afterFailure(rejected, 3, 50)).toEqual({ action: "wait-for-platform", delayMs: 5_000 });
    expect(isPlatformOutage(new MasterKeyMissing("2026-01"))).toBe(true);
    expect(isPlatformOutage(new Error("handler failed", { cause: rejected }))).toBe(true);
  });

  it("takes a bad query or a bug for the record's own failure", () => {
    expect(isPlatformOutage(Object.assign(new Error("violates foreign key"), { code: "23503" }))).toBe(false);
    expect(isPlatformOutage(new TypeError("Cannot read properties of undefined"))).toBe(false);
    expect(isPlatformOutage("a string")).toBe(false);
  });

  it("refuses a policy with no attempt at all", () => {
    expect(() => deadLetterAfterAttempts({ maxAttempts: 0, backoff })).toThrow(/at least 1/);
  });
});

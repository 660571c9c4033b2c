// When a failing record is given up on: after a bounded number of attempts, unless the failure is an outage
// of the platform itself. A record is dead-lettered for what is wrong with it, never for Postgres being down.

import { RestoredHistoryAhead } from "../../db/outbox/insertOutboxRows.ts";
import { isMasterKeyFault } from "../../db/patientKeys.ts";
import { databaseUnavailable } from "../../db/unavailable.ts";
import { DataFreeError } from "../../events/dataFreeError.ts";
import type { BackoffPolicy } from "../../retry/backoff.ts";

export type FailureDecision =
  /** Try the record again after the delay: the attempt counts towards the limit. */
  | { action: "retry"; delayMs: number }
  /** Try again after the delay without counting the attempt: the platform, not the record, failed. */
  | { action: "wait-for-platform"; delayMs: number }
  /** Try again after the delay without counting the attempt: what the record needs has not arrived yet. */
  | { action: "wait-for-prerequisite"; delayMs: number }
  | { action: "dead-letter"; reason: "attempts-exhausted" };

export interface DeadLetterPolicy {
  /**
   * What to do after `attempt` (1, 2, ...) counted attempts at one record have failed, the last with
   * `error`; `failures` counts every consecutive failure, outages included, and paces the backoff;
   * `failingForMs` is the time since the first of them.
   */
  afterFailure(error: unknown, attempt: number, failures?: number, failingForMs?: number): FailureDecision;
}

/**
 * The record is sound but came before what it needs: a row another consumer projects from another topic,
 * read at its own pace (the appointment's patient, say, not in the patient directory yet). Waited for
 * without counting attempts, for up to the policy's `prerequisiteWaitMs`; then it fails as any other error.
 */
export class PrerequisiteNotYetMet extends DataFreeError {
  override name = "PrerequisiteNotYetMet";
}

export interface DeadLetterPolicyOptions {
  /** Attempts per record, the first one included, before it goes to the dead-letter topic. */
  maxAttempts: number;
  backoff: BackoffPolicy;
  /**
   * How long a record may wait for its prerequisite (a {@link PrerequisiteNotYetMet}) before its failures
   * count as attempts: long enough for a projection that fell behind to catch up, short enough that a
   * prerequisite that never comes does not hold the partition for long. Two minutes unless set.
   */
  prerequisiteWaitMs?: number;
}

export function deadLetterAfterAttempts(options: DeadLetterPolicyOptions): DeadLetterPolicy {
  if (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1) {
    throw new Error(`maxAttempts must be a whole number of at least 1, got ${options.maxAttempts}`);
  }
  const prerequisiteWaitMs = options.prerequisiteWaitMs ?? 120_000;
  return {
    afterFailure(error, attempt, failures = attempt, failingForMs = 0) {
      // Every record would fail the same way during an outage, and would all be parked for nothing: wait it
      // out instead, keeping the place in the partition.
      if (isPlatformOutage(error)) {
        return { action: "wait-for-platform", delayMs: options.backoff.delayMs(failures) };
      }
      // Nothing is wrong with the record yet: another stream has not caught up with it.
      if (error instanceof PrerequisiteNotYetMet && failingForMs < prerequisiteWaitMs) {
        return { action: "wait-for-prerequisite", delayMs: options.backoff.delayMs(failures) };
      }
      if (attempt >= options.maxAttempts) return { action: "dead-letter", reason: "attempts-exhausted" };
      return { action: "retry", delayMs: options.backoff.delayMs(attempt) };
    },
  };
}

/** Contention that outlasted writeTransaction's own retries: another try later succeeds. */
const CONTENTION_SQLSTATES = new Set(["40001", "40P01"]);

/**
 * True when the error, or any error in its `cause` chain, is Postgres or the network being unavailable
 * (db/unavailable.ts) or contended, a restored database refusing events until `relay:rebase` has run, or this
 * process's master keys not opening a patient's key (PHI_MASTER_KEYS lacks the key, or holds other bytes under
 * its id): every event about those patients would fail alike until an operator fixes the configuration.
 */
export function isPlatformOutage(error: unknown): boolean {
  if (databaseUnavailable(error)) return true;
  for (let current = error, depth = 0; current instanceof Object && depth < 10; depth++) {
    if (current instanceof RestoredHistoryAhead || isMasterKeyFault(current)) return true;
    const { code, cause } = current as { code?: unknown; cause?: unknown };
    if (typeof code === "string" && CONTENTION_SQLSTATES.has(code)) return true;
    current = cause;
  }
  return false;
}

// The audit history's Prometheus metrics: how long the newest events have waited for a checkpoint to seal
// them (read from the database at scrape time, so a stopped sealer shows too), and how verifications ended.

import type pg from "pg";
import { Counter, Gauge, type Registry } from "prom-client";
import { latestCheckpoint } from "./sql/checkpoints.ts";
import { historyBatch } from "./sql/historyRows.ts";

/** Registered by the process that seals checkpoints (`npm start`), on its sealer's pool. */
export function registerSealingMetrics(registry: Registry, pool: pg.Pool): void {
  new Gauge({
    name: "audit_unsealed_oldest_age_seconds",
    help: "Age of the oldest event no checkpoint seals yet (0 when every event is sealed): the sealer runs every 30 s",
    registers: [registry],
    async collect() {
      const client = await pool.connect().catch(() => null);
      if (!client) return;
      try {
        const sealed = await latestCheckpoint(client);
        const after = sealed
          ? { txId: sealed.upToTxId, position: sealed.upToPosition }
          : { txId: "0", position: "0" };
        const [oldest] = await historyBatch(client, after, 1);
        this.set(oldest ? Math.max(0, (Date.now() - oldest.createdAt.getTime()) / 1000) : 0);
      } catch {
        // A failed scrape keeps the last value; the database's own alerts say why.
      } finally {
        client.release();
      }
    },
  });
}

const verificationCounters = new WeakMap<Registry, Counter<"outcome">>();

/**
 * Verifications of the history, by outcome, each starting at 0 so that the first of its kind alerts: `intact`;
 * `broken`, the history's own rows, links, signatures or archives are wrong (tampering or corruption); and
 * `not_as_expected`, the history does not hold the checkpoint the caller said it had seen (expectCheckpoint):
 * a rollback signed again, or a checkpoint remembered wrong, which only the caller's own record can tell apart.
 * A caller's claim alone is not a broken history: any auditor may send one.
 */
export type VerificationOutcome = "intact" | "broken" | "not_as_expected";
export function verificationMetrics(registry: Registry): Counter<"outcome"> {
  const outcomes: readonly VerificationOutcome[] = ["intact", "broken", "not_as_expected"];
  let counter = verificationCounters.get(registry);
  if (!counter) {
    counter = new Counter({
      name: "audit_verifications_total",
      help:
        "Verifications of the history (GET /audit/verify) by outcome: broken means tampering or corruption, " +
        "not_as_expected that the history lacks the checkpoint the caller remembered (expectCheckpoint)",
      labelNames: ["outcome"],
      registers: [registry],
    });
    for (const outcome of outcomes) counter.inc({ outcome }, 0);
    verificationCounters.set(registry, counter);
  }
  return counter;
}

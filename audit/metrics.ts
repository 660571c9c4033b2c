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

/** Verifications of the history, by outcome (`intact`, `broken`); both start at 0 so that the first break alerts. */
export function verificationMetrics(registry: Registry): Counter<"outcome"> {
  let counter = verificationCounters.get(registry);
  if (!counter) {
    counter = new Counter({
      name: "audit_verifications_total",
      help: "Verifications of the history (GET /audit/verify) by outcome: broken means tampering or corruption",
      labelNames: ["outcome"],
      registers: [registry],
    });
    counter.inc({ outcome: "intact" }, 0);
    counter.inc({ outcome: "broken" }, 0);
    verificationCounters.set(registry, counter);
  }
  return counter;
}

// Seals a checkpoint every interval while the platform runs, so that the unsealed tail of the history
// (protected by its chains only) stays short.
import pg from "pg";
import type { Registry } from "prom-client";
import type { Logger } from "../observability/logger.ts";
import { repeatEvery } from "../process/repeating.ts";
import { registerSealingMetrics } from "./metrics.ts";
import { SealingRefused, sealCheckpoint } from "./sealCheckpoint.ts";
import type { SigningKey } from "./signingKey.ts";
import type { RememberedCheckpoint } from "./verifyHistory.ts";

export function startCheckpointSealer(options: {
  databaseUrl: string;
  key: SigningKey;
  log: Logger;
  intervalMs?: number;
  /** Where `audit_unsealed_oldest_age_seconds` is exposed. */
  registry?: Registry;
}): { stop(): Promise<void> } {
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: 1,
    application_name: "checkpoint-sealer",
  });
  pool.on("error", () => {});
  // A checked-out client has no pool listener: a session ended under it (a failover, pg_terminate_backend) was
  // an uncaught 'error' that stopped the platform. The failed query is what reports it.
  pool.on("connect", (client) => client.on("error", () => {}));
  if (options.registry) registerSealingMetrics(options.registry, pool);
  // The last checkpoint sealed here: each seal checks that the history still holds it (audit/sealCheckpoint.ts).
  let lastSealed: RememberedCheckpoint | null = null;
  const seal = async () => {
    const client = await pool.connect().catch(() => null);
    if (!client) return;
    try {
      const checkpoint = await sealCheckpoint(client, options.key, { lastSeen: lastSealed });
      if (checkpoint) {
        lastSealed = { sequence: checkpoint.sequence, chainHash: checkpoint.chainHash };
        options.log.info(
          { sequence: checkpoint.sequence, rows: checkpoint.rowCount },
          "history checkpoint sealed",
        );
      }
    } catch (error) {
      if (error instanceof SealingRefused) {
        // Nothing is sealed until an operator has looked: the unsealed tail grows, and its alert fires.
        options.log.error({ err: error }, "sealing refused: the history is not intact");
      } else options.log.warn({ err: error }, "sealing a history checkpoint failed; will retry");
    } finally {
      client.release();
    }
  };
  // One seal at a time: a seal slower than the interval (a long unsealed tail, the lock held by an operator's
  // audit:seal) delays the next tick's instead of queueing one per tick.
  const sealing = repeatEvery(options.intervalMs ?? 30_000, seal);
  return {
    async stop() {
      await sealing.stop();
      await pool.end();
    },
  };
}

// Seals a checkpoint every interval while the platform runs, so that the unsealed tail of the history
// (protected by its chains only) stays short.
import pg from "pg";
import type { Registry } from "prom-client";
import type { Logger } from "../observability/logger.ts";
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
        options.log.info({ sequence: checkpoint.sequence, rows: checkpoint.rowCount }, "history checkpoint sealed");
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
  // One seal at a time, and a tick that finds one running is skipped: a seal slower than the interval (a long
  // unsealed tail, a lock held) queued one more seal per tick, all of which stop() then waited for.
  let sealing: Promise<void> | undefined;
  const timer = setInterval(() => {
    sealing ??= seal().finally(() => {
      sealing = undefined;
    });
  }, options.intervalMs ?? 30_000);
  return {
    async stop() {
      clearInterval(timer);
      await sealing;
      await pool.end();
    },
  };
}

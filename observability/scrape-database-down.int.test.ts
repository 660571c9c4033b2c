// A scrape while Postgres cannot be reached still answers: each collector that reads the database at scrape time
// keeps its last values when the read fails, so one of them cannot fail the whole scrape and take every other
// metric of the process (the relay's, the consumers' lag, the process's own) with it, when an alert needs them.
import { createServer } from "node:net";
import pg from "pg";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerSealingMetrics } from "../audit/metrics.ts";
import { registerAlertMetrics } from "../consumers/complianceWatch/alertMetrics.ts";
import { registerDeliveryMetrics } from "../consumers/notifications/deliveryMetrics.ts";
import { createDatabase, type Database } from "../db/client.ts";
import { registerSlotMetrics } from "../debezium/metrics.ts";

/** A port nothing listens on: every connection to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let unreachable: string;
let db: Database;
let pool: pg.Pool;
beforeAll(async () => {
  unreachable = `postgres://postgres@127.0.0.1:${await closedPort()}/healthcare`;
  db = createDatabase(unreachable, { max: 1, applicationName: "tests" });
  pool = new pg.Pool({ connectionString: unreachable, max: 1 });
});
afterAll(async () => {
  await db.$client.end();
  await pool.end();
});

describe("a scrape while the database cannot be reached", () => {
  it("answers with every metric, those read from the database left as they were", async () => {
    const registry = new Registry();
    registerAlertMetrics(registry, db);
    registerDeliveryMetrics(registry, db);
    registerSealingMetrics(registry, pool);
    const slot = registerSlotMetrics(registry, unreachable);
    try {
      const scraped = await registry.metrics();
      for (const name of [
        "compliance_alerts_total",
        "notification_deliveries_unresolved",
        "audit_unsealed_oldest_age_seconds",
        "debezium_replication_slot_retained_wal_bytes",
      ]) {
        expect(scraped).toContain(`# TYPE ${name} `);
      }
    } finally {
      await slot.close();
    }
  });
});

// The replication slot's metrics read pg_replication_slots at scrape time: absent while the connector's slot
// does not exist, then its retained WAL, lag, whether anything streams from it and how long the connector's
// heartbeat has been silent.
import pg from "pg";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUrl } from "../test/fixtures.ts";
import { debeziumTarget } from "./connectorConfig.ts";
import { registerSlotMetrics } from "./metrics.ts";

const client = new pg.Client({ connectionString: databaseUrl() });
const { slotName } = debeziumTarget(databaseUrl());
beforeAll(() => client.connect());
afterAll(async () => {
  await client.query(
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
    [slotName],
  );
  await client.end();
});

async function sample(registry: Registry, name: string): Promise<{ value: number; slot: unknown }[]> {
  const metric = await registry.getSingleMetric(name)?.get();
  return (metric?.values ?? []).map(({ value, labels }) => ({ value, slot: labels.slot }));
}

describe("replication slot metrics", () => {
  it("report nothing without the slot, then its retained WAL and that nothing streams from it", async () => {
    const existing = await client.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [
      slotName,
    ]);
    expect(existing.rowCount, `slot ${slotName} already exists on the test server`).toBe(0);
    const registry = new Registry();
    const metrics = registerSlotMetrics(registry, databaseUrl());
    try {
      expect(await sample(registry, "debezium_replication_slot_retained_wal_bytes")).toEqual([]);

      await client.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slotName]);
      // Some WAL after the slot's position: it keeps it.
      await client.query("SELECT pg_logical_emit_message(false, 'slot-metrics-test', 'x')");
      await client.query("SELECT pg_switch_wal()").catch(() => {});
      const retained = await sample(registry, "debezium_replication_slot_retained_wal_bytes");
      expect(retained).toHaveLength(1);
      expect(retained[0]?.slot).toBe(slotName);
      expect(retained[0]?.value).toBeGreaterThan(0);
      expect(await sample(registry, "debezium_replication_slot_active")).toEqual([
        { value: 0, slot: slotName },
      ]);
      // The connector's last heartbeat, 40 s ago, and no walsender since: it has been silent that long.
      await client.query(
        "INSERT INTO debezium_heartbeat (id, beat_at) VALUES (1, now() - interval '40 seconds') ON CONFLICT (id) DO UPDATE SET beat_at = EXCLUDED.beat_at",
      );
      const silence = await sample(registry, "debezium_heartbeat_silence_seconds");
      expect(silence).toEqual([{ value: expect.closeTo(40, -1), slot: slotName }]);
    } finally {
      await metrics.close();
    }
  });
});

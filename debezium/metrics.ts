// Debezium mode's Prometheus metrics: the connector's replication slot, read at scrape time. A slot whose
// reader stopped keeps every WAL segment from its position on, until the server's disk fills.
import pg from "pg";
import { Gauge, type Registry } from "prom-client";
import { debeziumTarget } from "./connectorConfig.ts";
import { slotState } from "./sql/replicationSlot.ts";

export function registerSlotMetrics(registry: Registry, databaseUrl: string): { close(): Promise<void> } {
  const { slotName } = debeziumTarget(databaseUrl);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1, application_name: "slot-metrics" });
  pool.on("error", () => {});
  // A checked-out client has no pool listener: a session ended under it was an uncaught error.
  pool.on("connect", (client) => client.on("error", () => {}));
  // One query per scrape: the three gauges are collected together and share the read in flight.
  let reading: Promise<Awaited<ReturnType<typeof slotState>> | null> | null = null;
  const read = () => {
    reading ??= slotState(pool, slotName)
      .catch(() => null)
      .finally(() => {
        reading = null;
      });
    return reading;
  };
  const gauge = (
    name: string,
    help: string,
    value: (state: NonNullable<Awaited<ReturnType<typeof slotState>>>) => number,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ["slot"],
      registers: [registry],
      async collect() {
        const state = await read();
        this.reset();
        if (state) this.set({ slot: slotName }, value(state));
      },
    });
  gauge(
    "debezium_replication_slot_retained_wal_bytes",
    "WAL the connector's replication slot keeps on the server's disk (pg_current_wal_lsn() - restart_lsn)",
    (state) => state.retainedBytes ?? 0,
  );
  gauge(
    "debezium_replication_slot_lag_bytes",
    "WAL committed that the connector has not confirmed yet (pg_current_wal_lsn() - confirmed_flush_lsn)",
    (state) => state.lagBytes ?? 0,
  );
  gauge(
    "debezium_replication_slot_active",
    "1 while the connector's task streams from its replication slot",
    (state) => (state.active ? 1 : 0),
  );
  return { close: () => pool.end() };
}

// Debezium mode's Prometheus metrics: the connector's replication slot, read at scrape time. A slot whose
// reader stopped keeps every WAL segment from its position on, until the server's disk fills.
import pg from "pg";
import { Gauge, type Registry } from "prom-client";
import { debeziumTarget } from "./connectorConfig.ts";
import { heartbeatSilenceSeconds } from "./sql/heartbeat.ts";
import { type SlotState, slotState } from "./sql/replicationSlot.ts";

/** The slot's state and the connector's heartbeat silence, read together at each scrape. */
interface SlotReading extends SlotState {
  heartbeatSilenceSeconds: number | undefined;
}

export function registerSlotMetrics(registry: Registry, databaseUrl: string): { close(): Promise<void> } {
  const { slotName, heartbeatTable } = debeziumTarget(databaseUrl);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1, application_name: "slot-metrics" });
  pool.on("error", () => {});
  // A checked-out client has no pool listener: a session ended under it was an uncaught error.
  pool.on("connect", (client) => client.on("error", () => {}));
  // One read per scrape: the gauges are collected together and share the read in flight.
  let reading: Promise<SlotReading | null> | null = null;
  const read = () => {
    reading ??= readSlot(pool, slotName, heartbeatTable)
      .catch(() => null)
      .finally(() => {
        reading = null;
      });
    return reading;
  };
  const gauge = (name: string, help: string, value: (state: SlotReading) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ["slot"],
      registers: [registry],
      async collect() {
        const state = await read();
        this.reset();
        const measured = state ? value(state) : undefined;
        if (measured !== undefined) this.set({ slot: slotName }, measured);
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
  gauge(
    "debezium_heartbeat_silence_seconds",
    "Seconds since the connector's task last ran its heartbeat (or its walsender started): a task Connect still " +
      "reports RUNNING after a record Kafka refused killed it stops beating (debezium/sql/heartbeat.ts)",
    (state) => state.heartbeatSilenceSeconds,
  );
  return { close: () => pool.end() };
}

/** Nothing without the slot: then Debezium is not the relay, and its heartbeat is silent by design. */
async function readSlot(
  pool: pg.Pool,
  slotName: string,
  heartbeatTable: string,
): Promise<SlotReading | null> {
  const state = await slotState(pool, slotName);
  if (!state) return null;
  return { ...state, heartbeatSilenceSeconds: await heartbeatSilenceSeconds(pool, heartbeatTable, slotName) };
}

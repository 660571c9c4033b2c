// A quiet outbox next to a busy table: the heartbeat keeps the slot's confirmed position moving although
// Debezium has no event to deliver, so the WAL the slot holds on to stays bounded.
import { afterAll, describe, expect, it } from "vitest";
import { useDebeziumRelay } from "../test/debeziumRelay.ts";
import { eventually, testDatabase } from "../test/fixtures.ts";
import { slotState } from "./sql/replicationSlot.ts";

const BATCHES = 16;
const ROWS_PER_BATCH = 4_000;
const MB = 1024 * 1024;

const db = testDatabase();
const debezium = useDebeziumRelay({ heartbeatIntervalMs: 1_000 });
afterAll(async () => {
  await db.$client.query("DROP TABLE IF EXISTS busy_neighbour");
  await db.$client.end();
});

async function lsnReached(lsn: string, target: string): Promise<boolean> {
  const result = await db.$client.query<{ reached: boolean }>("SELECT $1::pg_lsn >= $2::pg_lsn AS reached", [
    lsn,
    target,
  ]);
  return result.rows[0]?.reached === true;
}

describe("the Debezium relay's heartbeat", () => {
  it("moves the slot past WAL written by other tables while the outbox is quiet", async () => {
    const { target } = debezium();
    await db.$client.query("CREATE TABLE busy_neighbour (id bigserial PRIMARY KEY, filler text NOT NULL)");
    const start = (await db.$client.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn"))
      .rows[0]?.lsn as string;
    for (let batch = 0; batch < BATCHES; batch++) {
      await db.$client.query(
        "INSERT INTO busy_neighbour (filler) SELECT repeat(md5(g::text), 32) FROM generate_series(1, $1) AS g",
        [ROWS_PER_BATCH],
      );
    }
    const written = await db.$client.query<{ lsn: string; bytes: number }>(
      "SELECT pg_current_wal_lsn()::text AS lsn, (pg_current_wal_lsn() - $1::pg_lsn)::float8 AS bytes",
      [start],
    );
    const end = written.rows[0]?.lsn as string;
    expect(written.rows[0]?.bytes).toBeGreaterThan(32 * MB);

    // Confirmed: Debezium has told Postgres it needs nothing before this point.
    await eventually(async () => {
      const slot = await slotState(db.$client, target.slotName);
      return slot?.confirmedFlushLsn ? lsnReached(slot.confirmedFlushLsn, end) : false;
    }, 30_000);

    // Released: the slot's restart point follows at the next running-transactions record, which Postgres logs
    // every 15 s on its own; asking for one now keeps the test short (PostgreSQL 15 has no function for it, but
    // a checkpoint logs one too).
    const version = await db.$client.query<{ v: string }>("SHOW server_version_num");
    const logRunningTransactions =
      Number(version.rows[0]?.v) >= 160000 ? "SELECT pg_log_standby_snapshot()" : "CHECKPOINT";
    await eventually(async () => {
      await db.$client.query(logRunningTransactions);
      const slot = await slotState(db.$client, target.slotName);
      return (slot?.retainedBytes ?? Number.POSITIVE_INFINITY) < 4 * MB;
    }, 30_000);
  });
});

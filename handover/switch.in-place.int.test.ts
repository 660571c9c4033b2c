// `npm run relay:switch` to the relay already in place says so and exits 0, starting nothing and changing
// nothing: not the Connect worker a switch to polling does not need, not the connector Debezium already runs.
// The command is pointed at a Kafka that does not answer: one that went on to hand over would fail there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { debeziumTarget } from "../debezium/connectorConfig.ts";
import { slotState } from "../debezium/sql/replicationSlot.ts";
import { spawnScript } from "../test/childProcess.ts";
import { useConnectWorker } from "../test/debeziumRelay.ts";
import { kafkaBrokers } from "../test/fixtures.ts";
import { ownDatabase } from "../test/ownDatabase.ts";
import { switchToDebezium, switchToPolling } from "./switch.ts";

/** Nothing listens on port 1. */
const NOBODY = "127.0.0.1:1";

const own = ownDatabase("switch_in_place");
beforeAll(own.setUp);
afterAll(own.tearDown);
const worker = useConnectWorker();

async function relaySwitch(wanted: "polling" | "debezium", connectUrl: string) {
  const command = spawnScript("handover/switch.ts", {
    args: [wanted, "--yes"],
    env: { DATABASE_URL: own.url, KAFKA_BROKERS: NOBODY, KAFKA_CONNECT_URL: connectUrl },
  });
  const code = await new Promise<number | null>((resolve) => command.child.once("close", resolve));
  return { code, output: command.output() };
}

async function relayModeRows() {
  return (await own.db.$client.query("SELECT mode, handover, changed_at FROM relay_mode")).rows;
}

describe("relay:switch to the relay in place", () => {
  it("polling, when the polling relay is the relay: says so, exit 0, no worker reached, nothing written", async () => {
    const { code, output } = await relaySwitch("polling", `http://${NOBODY}`);

    expect(code, output).toBe(0);
    expect(output).toContain('{"mode":"polling","alreadyPolling":true}');
    expect(output).toContain("the polling relay is the relay already: nothing to hand over, nothing started");
    expect(await relayModeRows()).toEqual([]);
    expect(await slotState(own.db.$client, debeziumTarget(own.url).slotName)).toBeUndefined();
  });

  it("debezium, when Debezium is the relay: says so, exit 0, its connector and mode untouched", async () => {
    const { connect } = worker();
    const target = debeziumTarget(own.url);
    await switchToDebezium({ databaseUrl: own.url, kafkaBrokers: kafkaBrokers(), connect, log: () => {} });
    try {
      const modeBefore = await relayModeRows();
      const statusBefore = await connect.status(target.connectorName);

      const { code, output } = await relaySwitch("debezium", connect.url);

      expect(code, output).toBe(0);
      expect(output).toContain('{"mode":"debezium","alreadyDebezium":true}');
      expect(output).toContain(
        `Debezium is the relay already (connector ${target.connectorName} running on slot ${target.slotName})`,
      );
      expect(await relayModeRows()).toEqual(modeBefore);
      expect(await connect.status(target.connectorName)).toMatchObject({
        connector: { state: "RUNNING", worker_id: statusBefore?.connector.worker_id },
        tasks: [{ state: "RUNNING" }],
      });
    } finally {
      await switchToPolling({ databaseUrl: own.url, connect, log: () => {} });
    }
  }, 180_000);

  it("debezium, when Debezium is the relay and its connector was paused and reconfigured: resumes it", async () => {
    const { connect } = worker();
    const target = debeziumTarget(own.url);
    await switchToDebezium({ databaseUrl: own.url, kafkaBrokers: kafkaBrokers(), connect, log: () => {} });
    try {
      // Paused by hand, then given another config (as one stored by an older version of the project): the
      // switch's config restarts it, still paused. The switch resumed it only when its status, read right after,
      // said PAUSED; on a loaded machine it said UNASSIGNED (restarting), and the switch waited 90 s and failed
      // with the connector paused. It is now resumed whatever the status says (here, the status is quick).
      const paused = await fetch(`${connect.url}/connectors/${target.connectorName}/pause`, {
        method: "PUT",
      });
      expect(paused.status).toBe(202);
      const config = (await connect.config(target.connectorName)) as Record<string, string>;
      await connect.putConnectorConfig(target.connectorName, { ...config, "heartbeat.interval.ms": "10001" });

      await switchToDebezium({ databaseUrl: own.url, kafkaBrokers: kafkaBrokers(), connect, log: () => {} });

      expect(await connect.status(target.connectorName)).toMatchObject({
        connector: { state: "RUNNING" },
        tasks: [{ state: "RUNNING" }],
      });
      expect((await connect.config(target.connectorName))?.["heartbeat.interval.ms"]).not.toBe("10001");
    } finally {
      await switchToPolling({ databaseUrl: own.url, connect, log: () => {} });
    }
  }, 240_000);
});

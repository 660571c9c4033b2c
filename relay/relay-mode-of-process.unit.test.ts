// `npm run relay` runs the polling relay only: under RELAY_MODE=debezium or off it refuses to start, naming the
// variable and what runs the Debezium relay, rather than run a polling relay the variable did not ask for.
import { describe, expect, it } from "vitest";
import { commandOutcome } from "../test/commandOutcome.ts";
import { configProblems } from "../test/configProblems.ts";
import { requirePollingRelayMode } from "./relayModeOfProcess.ts";

describe("the relay process's RELAY_MODE", () => {
  it("is polling, as by default", () => {
    expect(configProblems(requirePollingRelayMode, "polling")).toEqual([]);
  });

  it("refuses debezium, naming what runs the Debezium relay", () => {
    expect(configProblems(requirePollingRelayMode, "debezium")).toEqual([
      'RELAY_MODE="debezium": npm run relay runs the polling relay only; the Debezium relay is a connector on Kafka Connect, which RELAY_MODE=debezium npm start runs (npm run relay:switch -- debezium hands the outbox over to it). For a polling relay here, unset RELAY_MODE or set it to polling',
    ]);
  });

  it("refuses off, which asks for no relay", () => {
    expect(configProblems(requirePollingRelayMode, "off")).toEqual([
      'RELAY_MODE="off": asks for no relay, and npm run relay runs the polling relay: unset RELAY_MODE or set it to polling to run one here',
    ]);
  });

  // Each starts the relay under tsx, a few seconds on a busy machine. Postgres and Kafka do not answer: a relay
  // that went on past its configuration would keep retrying them (a long-running process rides out an outage).
  it("stops npm run relay before it reaches Postgres, exit code 1", {
    timeout: 60_000,
  }, async () => {
    const [debezium, off] = await Promise.all([
      commandOutcome("relay/main.ts", [], { RELAY_MODE: "debezium", PORT: "0" }),
      commandOutcome("relay/main.ts", [], { RELAY_MODE: "off", PORT: "0" }),
    ]);
    expect(debezium).toMatchObject({ code: 1, stdout: "" });
    expect(debezium.stderr).toMatch(/^Invalid configuration:\n/);
    expect(debezium.stderr).toContain('RELAY_MODE="debezium": npm run relay runs the polling relay only');
    expect(debezium.stderr).not.toMatch(/Postgres|^\s+at /m);
    expect(off).toMatchObject({ code: 1, stdout: "" });
    expect(off.stderr).toBe(
      'Invalid configuration:\n  - RELAY_MODE="off": asks for no relay, and npm run relay runs the polling relay: unset RELAY_MODE or set it to polling to run one here\n',
    );
  });
});

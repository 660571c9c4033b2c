// What `npm run relay` makes of RELAY_MODE: it runs the polling relay and nothing else, so a RELAY_MODE that
// names another relay, or none, is a configuration that contradicts the command, refused before it starts.
// (npm start reads the same variable to choose among the three: scripts/start.ts.)
import { ConfigError, type Env } from "../config/env.ts";

/** Throws a ConfigError naming RELAY_MODE unless it asks for the polling relay (its default). */
export function requirePollingRelayMode(mode: Env["RELAY_MODE"]): void {
  if (mode === "polling") return;
  const problem =
    mode === "debezium"
      ? "npm run relay runs the polling relay only; the Debezium relay is a connector on Kafka Connect, which " +
        "RELAY_MODE=debezium npm start runs (npm run relay:switch -- debezium hands the outbox over to it). For a " +
        "polling relay here, unset RELAY_MODE or set it to polling"
      : "asks for no relay, and npm run relay runs the polling relay: unset RELAY_MODE or set it to polling to " +
        "run one here";
  throw new ConfigError([`RELAY_MODE="${mode}": ${problem}`]);
}

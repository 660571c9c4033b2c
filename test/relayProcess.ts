// Runs the relay as a real separate process (`relay/main.ts`), to kill it with SIGKILL or run two at once.

import { type ScriptProcess, spawnScript } from "./childProcess.ts";
import { eventually } from "./fixtures.ts";

export interface RelayProcess extends ScriptProcess {
  /** Resolves with the port of its metrics server once it listens. */
  port: Promise<number>;
}

export function spawnRelayProcess(): RelayProcess {
  const relay = spawnScript("relay/main.ts", { env: { PORT: "0", LOG_LEVEL: "info" } });
  const port = relay.printed(/"port":(\d+)/).then((match) => Number(match[1]));
  // A test may kill the relay before it listens, and never ask for the port.
  port.catch(() => {});
  return { ...relay, port };
}

export async function relayStatus(relay: RelayProcess): Promise<{ leader: boolean }> {
  const response = await fetch(`http://127.0.0.1:${await relay.port}/relay/status`);
  return (await response.json()) as { leader: boolean };
}

export async function untilLeader(relay: RelayProcess): Promise<void> {
  await eventually(async () => (await relayStatus(relay).catch(() => ({ leader: false }))).leader, 60_000);
}

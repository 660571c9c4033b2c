// Runs the relay as a real separate process (`relay/main.ts`), to kill it with SIGKILL or run two at once.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { databaseUrl, eventually, kafkaBrokers } from "./fixtures.ts";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));

export interface RelayProcess {
  child: ChildProcess;
  /** Resolves with the port of its metrics server once it listens. */
  port: Promise<number>;
  output: () => string;
  exited: Promise<number | null>;
}

export function spawnRelayProcess(): RelayProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "relay/main.ts"], {
    cwd: projectRoot,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl(),
      KAFKA_BROKERS: kafkaBrokers().join(","),
      PORT: "0",
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let announcePort: (port: number) => void = () => {};
  const port = new Promise<number>((resolve) => {
    announcePort = resolve;
  });
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    const match = /"port":(\d+)/.exec(output);
    if (match) announcePort(Number(match[1]));
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, port, output: () => output, exited };
}

export async function relayStatus(relay: RelayProcess): Promise<{ leader: boolean }> {
  const response = await fetch(`http://127.0.0.1:${await relay.port}/relay/status`);
  return (await response.json()) as { leader: boolean };
}

export async function untilLeader(relay: RelayProcess): Promise<void> {
  await eventually(async () => (await relayStatus(relay).catch(() => ({ leader: false }))).leader, 60_000);
}

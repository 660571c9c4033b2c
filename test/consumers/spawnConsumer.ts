// Runs effectConsumerProcess.ts as a real child process, to kill it with SIGKILL or run two in one group.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { databaseUrl, eventually, kafkaBrokers } from "../fixtures.ts";

const projectRoot = fileURLToPath(new URL("../..", import.meta.url));

export interface ConsumerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** Resolves once the process has joined its group. */
  ready: Promise<void>;
}

export function spawnEffectConsumer(name: string, env: Record<string, string> = {}): ConsumerProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "test/consumers/effectConsumerProcess.ts"], {
    cwd: projectRoot,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl(),
      KAFKA_BROKERS: kafkaBrokers().join(","),
      CONSUMER_NAME: name,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = eventually(async () => output.includes("consumer process ready"), 60_000).then(() => {});
  return { child, output: () => output, exited, ready };
}

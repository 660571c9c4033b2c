// The platform's processes as a chaos run starts them: the API (`npm start`'s script, with its relay off or in
// Debezium mode) and polling relays (`npm run relay`), each a real child process that a fault may SIGKILL.
// Both run compiled, as those commands run them: built into dist/ once per chaos run, then on plain Node.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stackPaths } from "../stack/index.ts";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));

export interface ChaosProcess {
  child: ChildProcess;
  port: number;
  /** Resolves once its HTTP port answers /health/live. */
  ready: Promise<void>;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after 15 s. */
  stop(): Promise<void>;
}

/** Where each process's log goes: .data/logs/chaos/<port>-<pid>.log, kept for reading after a failed run. */
export const chaosLogDir = join(stackPaths.logs, "chaos");

let built = false;

function spawnScript(script: string, port: number, env: Record<string, string>): ChaosProcess {
  mkdirSync(chaosLogDir, { recursive: true });
  const logFile = join(chaosLogDir, `${port}-${Date.now()}.log`);
  if (!built) {
    execFileSync("npm", ["run", "--silent", "build"], { cwd: projectRoot, stdio: "inherit" });
    built = true;
  }
  const child = spawn(process.execPath, [script], {
    cwd: projectRoot,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ["ignore", openSync(logFile, "a"), "pipe"],
  });
  let lastOutput = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    lastOutput = (lastOutput + chunk.toString()).slice(-4_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = (async () => {
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${script} exited before it was ready: ${lastOutput}`);
      const live = await fetch(`http://127.0.0.1:${port}/health/live`)
        .then((response) => response.ok)
        .catch(() => false);
      if (live) return;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    throw new Error(`${script} did not answer on port ${port} within 180 s: ${lastOutput}`);
  })();
  ready.catch(() => {});
  return {
    child,
    port,
    ready,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function spawnPlatform(port: number, env: Record<string, string>): ChaosProcess {
  return spawnScript("dist/scripts/start.js", port, env);
}

export function spawnRelay(port: number, env: Record<string, string>): ChaosProcess {
  return spawnScript("dist/relay/main.js", port, env);
}

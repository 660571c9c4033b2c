// Runs one of the project's commands as its user does (under tsx, from the project root) with nothing but the
// variables a test gives it, and Postgres and Kafka where nothing answers: for unit tests of what a command says
// and exits with before it reaches a service, or when it cannot.
import { execFile, spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));

/** Nothing listens on port 1: a command that reached for Postgres or Kafka there fails at once. */
export const UNREACHABLE_SERVICES = {
  DATABASE_URL: "postgres://postgres:postgres@127.0.0.1:1/healthcare",
  KAFKA_BROKERS: "127.0.0.1:1",
};

export interface CommandOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** `script` (a path from the project root) with `args`, PATH, the unreachable services and `env`. */
export async function commandOutcome(
  script: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<CommandOutcome> {
  return promisify(execFile)(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? "", ...UNREACHABLE_SERVICES, ...env },
    timeout: 60_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number | string; stdout: string; stderr: string }) => {
      if (typeof error.code !== "number") throw error;
      return { code: error.code, stdout: error.stdout, stderr: error.stderr };
    },
  );
}

/** Whether script(1) is here to give a command a terminal (util-linux; absent on some machines). */
export const terminalAvailable = spawnSync("script", ["--version"]).status === 0;

/**
 * The command run at a terminal, as a person runs it: under script(1), which gives it a pseudo-terminal, so that
 * it asks [y/N]. A question is answered `n` (nothing done); `asked` says whether it was put. Output is stdout
 * and stderr together, as a terminal shows them, without readline's cursor moves.
 */
export async function commandAtTerminal(
  script: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string; asked: boolean }> {
  const command = [process.execPath, "--import", "tsx", script, ...args]
    .map((part) => `'${part.replaceAll("'", "'\\''")}'`)
    .join(" ");
  const child = spawn("script", ["-qec", command, "/dev/null"], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? "", ...UNREACHABLE_SERVICES, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  let output = "";
  let asked = false;
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (!asked && output.includes("[y/N]")) {
      asked = true;
      child.stdin.write("n\r");
    }
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  clearTimeout(timer);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the escape character starts each sequence
  const shown = output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replaceAll("\r", "");
  return { code, output: shown, asked };
}

// Runs one of the project's commands as its user does (under tsx, from the project root) with nothing but the
// variables a test gives it, and Postgres and Kafka where nothing answers: for unit tests of what a command says
// and exits with before it reaches a service, or when it cannot.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type AtTerminal, atTerminal } from "./terminal.ts";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));

/** Nothing listens on port 1: a command that reached for Postgres or Kafka there fails at once. */
export const UNREACHABLE_SERVICES = {
  DATABASE_URL: "postgres://postgres:postgres@127.0.0.1:1/healthcare",
  KAFKA_BROKERS: "127.0.0.1:1",
};

/** A service's keys, given so that no development key is made up under .data/; PORT 0, any free port. */
export const SERVICE_KEYS = {
  PHI_MASTER_KEYS: `unit:${Buffer.alloc(32, 7).toString("base64")}`,
  JWT_SECRET: "a-test-secret-of-at-least-32-characters",
  PORT: "0",
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

/**
 * The command run at a terminal (test/terminal.ts), with PATH, the unreachable services and `env`: a question
 * it asks is answered `n` (nothing done).
 */
export function commandAtTerminal(
  script: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<AtTerminal> {
  return atTerminal([process.execPath, "--import", "tsx", script, ...args], {
    env: { PATH: process.env.PATH ?? "", ...UNREACHABLE_SERVICES, ...env },
    answer: "n",
  });
}

// A command run at a terminal, as a person runs it: under script(1) (util-linux), which gives it a
// pseudo-terminal, so that a command that asks before it acts ([y/N]) asks.
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));

/** Whether script(1) is here to give a command a terminal (absent on some machines). */
export const terminalAvailable = spawnSync("script", ["--version"]).status === 0;

export interface AtTerminal {
  code: number | null;
  /** stdout and stderr together, as a terminal shows them, without readline's cursor moves. */
  output: string;
  /** Whether the command asked [y/N]. */
  asked: boolean;
}

export interface TerminalSession {
  /** The process's whole environment (script(1) passes it on). */
  env: NodeJS.ProcessEnv;
  /** Typed once the command asks [y/N], after `beforeAnswering` has run. */
  answer: string;
  beforeAnswering?: () => Promise<void>;
}

/** Runs `argv` from the project root at a terminal; killed after a minute. */
export async function atTerminal(
  argv: readonly string[],
  { env, answer, beforeAnswering = async () => {} }: TerminalSession,
): Promise<AtTerminal> {
  const command = argv.map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(" ");
  const child = spawn("script", ["-qec", command, "/dev/null"], {
    cwd: projectRoot,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  let output = "";
  let asked = false;
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (!asked && output.includes("[y/N]")) {
      asked = true;
      void beforeAnswering().then(() => child.stdin.write(`${answer}\r`));
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

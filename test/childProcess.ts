// Runs one of the project's scripts as a real child process on the test stack (the one way tests start a
// process), to kill it with SIGKILL, run two at once, or read what it printed.
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { compiledScript } from "./compiledCommands.ts";
import { databaseUrl, kafkaBrokers } from "./fixtures.ts";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));

export interface ScriptProcess {
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr together. */
  output: () => string;
  exited: Promise<number | null>;
  /** Resolves once its output matches `pattern` (with the match), for a process that announces readiness. */
  printed(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

/**
 * `script` (a path from the project root) under tsx, with the test stack's DATABASE_URL and KAFKA_BROKERS; with
 * `compiled`, as `npm start` runs it: compiled into dist/ (compiledScript) and run on plain Node.
 */
export function spawnScript(
  script: string,
  options: { args?: string[]; env?: Record<string, string>; compiled?: boolean } = {},
): ScriptProcess {
  const command = options.compiled ? [compiledScript(script)] : ["--import", "tsx", script];
  const child = spawn(process.execPath, [...command, ...(options.args ?? [])], {
    cwd: projectRoot,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl(),
      KAFKA_BROKERS: kafkaBrokers().join(","),
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const printed = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const done = () => {
        listeners.delete(check);
        clearTimeout(timer);
      };
      const check = () => {
        const match = pattern.exec(output);
        if (match) {
          done();
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${script} did not print ${pattern} within ${timeoutMs} ms:\n${output}`));
      }, timeoutMs);
      listeners.add(check);
      check();
      exited.then(() => {
        check();
        done();
        reject(new Error(`${script} exited before printing ${pattern}:\n${output}`));
      });
    });
  return { child, output: () => output, exited, printed };
}

// Runs one of the project's scripts as a real child process on the test stack (the one way tests start a
// process), to kill it with SIGKILL, run two at once, or read what it printed.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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

let built = false;

/**
 * `script` (a path from the project root) under tsx, with the test stack's DATABASE_URL and KAFKA_BROKERS; with
 * `compiled`, as `npm start` runs it: built into dist/ (`npm run build`, once per test file) and run on plain Node.
 */
export function spawnScript(
  script: string,
  options: { args?: string[]; env?: Record<string, string>; compiled?: boolean } = {},
): ScriptProcess {
  if (options.compiled && !built) {
    execFileSync("npm", ["run", "--silent", "build"], { cwd: projectRoot, stdio: "inherit" });
    built = true;
  }
  const command = options.compiled ? [`dist/${script.replace(/\.ts$/, ".js")}`] : ["--import", "tsx", script];
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

const compiledScripts = new Set<string>();

/**
 * Compiles `scripts` (paths from the project root) and what they import into dist/, as `npm run build` compiles
 * the long-running processes (tsconfig.build.json: types stripped, not checked), for a test that starts many
 * processes: each then runs on plain Node, without tsx's module loader, at about a third of the CPU. Once per
 * test process for each script. Returns each script's compiled path, in order.
 */
export function compileScripts(scripts: readonly string[]): string[] {
  const missing = scripts.filter((script) => !compiledScripts.has(script));
  if (missing.length > 0) {
    const dist = join(projectRoot, "dist");
    mkdirSync(dist, { recursive: true });
    // Inside dist/, so that the compiler finds the project's type packages (node_modules/@types) above it.
    const config = join(dist, "tsconfig.scripts.json");
    writeFileSync(
      config,
      JSON.stringify({
        extends: "../tsconfig.build.json",
        compilerOptions: { outDir: ".", rootDir: ".." },
        include: missing.map((script) => `../${script}`),
      }),
    );
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    execFileSync(process.execPath, [tsc, "-p", config], { cwd: projectRoot, stdio: "inherit" });
    for (const script of missing) compiledScripts.add(script);
  }
  return scripts.map((script) => join("dist", script.replace(/\.ts$/, ".js")));
}

// Runs one of the project's scripts as a real child process on the test stack (the one way tests start a
// process), to kill it with SIGKILL, run two at once, or read what it printed.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
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

let commandsCompiled = false;

/**
 * `script` (a path from the project root) compiled into dist/, its path there. On first use, every command of
 * package.json's scripts (the `tsx <file>` ones) and the long-running processes `npm run build` compiles
 * (tsconfig.build.json's own files) are compiled at once, as that build compiles (types stripped, not checked):
 * once per test process. A test that starts many processes runs them so on plain Node, without tsx's module
 * loader, at about a third of the CPU.
 */
export function compiledScript(script: string): string {
  if (!commandsCompiled) {
    const scripts = (JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as PackageJson)
      .scripts;
    const commands = Object.values(scripts).flatMap((line) => /^tsx (\S+\.ts)/.exec(line)?.[1] ?? []);
    const dist = join(projectRoot, "dist");
    mkdirSync(dist, { recursive: true });
    // Inside dist/, so that the compiler finds the project's type packages (node_modules/@types) above it;
    // `files` adds to the `include` it extends.
    const config = join(dist, "tsconfig.commands.json");
    writeFileSync(
      config,
      JSON.stringify({
        extends: "../tsconfig.build.json",
        compilerOptions: { outDir: ".", rootDir: ".." },
        files: commands.map((command) => `../${command}`),
      }),
    );
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    execFileSync(process.execPath, [tsc, "-p", config], { cwd: projectRoot, stdio: "inherit" });
    commandsCompiled = true;
  }
  const compiled = join("dist", script.replace(/\.ts$/, ".js"));
  if (!existsSync(join(projectRoot, compiled)))
    throw new Error(`${script} is neither a command nor a process`);
  return compiled;
}

interface PackageJson {
  scripts: Record<string, string>;
}

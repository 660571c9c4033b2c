// The commands and long-running processes compiled into dist/, as `npm run build` compiles them, for the tests
// that start many of them: on plain Node, without tsx's module loader, each starts at about a third of the CPU.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { inject } from "vitest";
import { projectRoot } from "../config/projectRoot.ts";

let commandsCompiled = false;

/**
 * `script` (a path from the project root) compiled into dist/, its path there. On first use, every command of
 * package.json's scripts (the `tsx <file>` ones) and the long-running processes `npm run build` compiles
 * (tsconfig.build.json's own files) are compiled at once, as that build compiles (types stripped, not checked):
 * once per test process, or once for the run when its lanes compiled them before they started
 * (test/globalSetup.ts). A test that starts many processes runs them so on plain Node, without tsx's module
 * loader, at about a third of the CPU.
 */
export function compiledScript(script: string): string {
  if (!commandsCompiled && !inject("commandsCompiled")) compileCommands();
  commandsCompiled = true;
  const compiled = join("dist", script.replace(/\.ts$/, ".js"));
  if (!existsSync(join(projectRoot, compiled)))
    throw new Error(`${script} is neither a command nor a process`);
  return compiled;
}

/** Compiles every command and long-running process into dist/ (see compiledScript). */
export function compileCommands(): void {
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
}

interface PackageJson {
  scripts: Record<string, string>;
}

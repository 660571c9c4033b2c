// The platform image, checked where no Docker engine runs: a Node LTS base, production dependencies only, an
// unprivileged user, and code that runs from those dependencies alone (no production file imports a
// devDependency: the image would fail at start on the first such import).

import { readdir, readFile } from "node:fs/promises";
import { builtinModules } from "node:module";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL(".", import.meta.url));
const dockerfile = await readFile(join(root, "Dockerfile"), "utf8");
const compose = await readFile(join(root, "docker-compose.yml"), "utf8");
const packageJson = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** The Dockerfile's instructions, continuation lines joined and comments left out. */
const instructions = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line !== "" && !line.startsWith("#"));
const named = (keyword: string, from: string[] = instructions) =>
  from.filter((line) => line.toUpperCase().startsWith(`${keyword} `));
/** The instructions of the image itself: its last stage, after the build stage's. */
const lastFrom = instructions.findLastIndex((line) => line.toUpperCase().startsWith("FROM "));
const imageStage = instructions.slice(lastFrom);
const buildStage = instructions.slice(0, lastFrom);

/** What `npm run build` compiles into dist/: tsconfig.build.json's entry points (JSON with comments). */
const buildConfig = JSON.parse(
  (await readFile(join(root, "tsconfig.build.json"), "utf8")).replace(/^\s*\/\/.*$/gm, ""),
) as { include: string[] };
/** `dist/relay/main.js` for `relay/main.ts`: asserts the build compiles it. */
const compiledFrom = (script: string) => {
  const source = script.replace(/^dist\//, "").replace(/\.js$/, ".ts");
  expect(buildConfig.include, `${script} is not one of tsconfig.build.json's entry points`).toContain(source);
  return source;
};

/** What never ships in the image's running code: tests, test support, benchmarks, dev tools' configs. */
const notProduction = (path: string) =>
  /\.test\.ts$/.test(path) ||
  /^(test|bench|node_modules|\.data|\.git)\//.test(path) ||
  ["drizzle.config.ts", "vitest.config.ts"].includes(path);

async function productionFiles(directory = root): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    const fromRoot = relative(root, path);
    if (entry.isDirectory()) {
      if (!notProduction(`${fromRoot}/`)) files.push(...(await productionFiles(path)));
    } else if (entry.name.endsWith(".ts") && !notProduction(fromRoot)) files.push(fromRoot);
  }
  return files;
}

/** `pg` for `pg`, `@hono/node-server` for `@hono/node-server/conninfo`; null for relative and built-in modules. */
function packageOf(specifier: string): string | null {
  if (specifier.startsWith(".") || specifier.startsWith("node:") || builtinModules.includes(specifier))
    return null;
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string);
}

describe("the platform image", () => {
  it("is built on a current Node LTS (22 or 24), the same major in every stage", () => {
    const bases = named("FROM");
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) expect(base).toMatch(/^FROM node:(22|24)(\.\d+)*-/);
  });

  it("installs production dependencies only, from the lock file", () => {
    const installs = named("RUN", imageStage).filter((line) =>
      /\bnpm (ci|install)\b(?! --global)/.test(line),
    );
    expect(installs).toHaveLength(1);
    expect(installs[0]).toMatch(/\bnpm ci\b.*--omit=dev\b/);
  });

  it("runs as an unprivileged user", () => {
    const users = named("USER");
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^USER\s+(root|0)(:|\s|$)/i);
    // The last USER comes before the command and the installs that follow it.
    expect(instructions.indexOf(users.at(-1) as string)).toBeLessThan(
      instructions.findIndex((line) => line.startsWith("CMD ")),
    );
  });

  it("runs the compiled start on plain Node, built in a stage of its own", () => {
    expect(named("RUN", buildStage)).toContain("RUN npm run build");
    expect(named("COPY", imageStage).filter((line) => line.includes("--from=build"))).toEqual([
      "COPY --from=build --chown=node:node /build/dist ./dist",
    ]);
    expect(named("CMD", imageStage)).toEqual([`CMD ["node", "dist/scripts/start.js"]`]);
    compiledFrom("dist/scripts/start.js");
  });

  it("builds every compiled script package.json runs", () => {
    const compiled = Object.values(packageJson.scripts).flatMap((command) =>
      [...command.matchAll(/\bnode (dist\/\S+\.js)/g)].map((match) => match[1] as string),
    );
    expect(compiled).toEqual(expect.arrayContaining(["dist/scripts/start.js", "dist/relay/main.js"]));
    for (const script of compiled) compiledFrom(script);
    // exec: node takes the shell's place, so the signals npm passes on (SIGTERM, SIGINT) reach it.
    for (const command of Object.values(packageJson.scripts).filter((command) =>
      command.includes("node dist/"),
    ))
      expect(command).toMatch(/^npm run --silent build && exec node dist\//);
  });

  it("keeps tsx, which runs the command-line tools, a production dependency", () => {
    expect(Object.keys(packageJson.dependencies)).toContain("tsx");
    expect(Object.keys(packageJson.devDependencies)).not.toContain("tsx");
  });

  it("runs code that imports no devDependency", async () => {
    const devOnly = new Set(Object.keys(packageJson.devDependencies));
    const production = new Set(Object.keys(packageJson.dependencies));
    const files = await productionFiles();
    expect(files).toContain("scripts/start.ts");
    const problems: string[] = [];
    for (const file of files) {
      const source = await readFile(join(root, file), "utf8");
      const specifiers = [
        ...source.matchAll(/^\s*(?:import|export)\s[^;]*?\bfrom\s*["']([^"'\n]+)["']/gm),
        ...source.matchAll(/^\s*import\s*["']([^"'\n]+)["']/gm),
        ...source.matchAll(/\bimport\(\s*["']([^"'\n]+)["']\s*\)/g),
      ].map((match) => match[1] as string);
      for (const name of specifiers.map(packageOf)) {
        if (name === null || production.has(name)) continue;
        problems.push(
          `${file} imports ${name}${devOnly.has(name) ? " (a devDependency)" : " (not a dependency)"}`,
        );
      }
    }
    expect(problems).toEqual([]);
  });

  it("is what docker-compose.yml builds, running scripts that exist", async () => {
    expect(compose).toMatch(/build: \./);
    const scripts = [...compose.matchAll(/command: \["node", "(dist\/[^"]+\.js)"/g)].map(
      (match) => match[1] as string,
    );
    expect(scripts).toContain("dist/relay/main.js");
    for (const script of scripts)
      await expect(readFile(join(root, compiledFrom(script)), "utf8")).resolves.toBeTruthy();
    expect(compose).not.toMatch(/"--import", "tsx"/);
  });
});

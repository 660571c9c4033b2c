// What the broker and the Connect worker both need from the machine: a Java 17+ runtime, and the jars that
// stack/pom.xml pins, fetched by Maven once per pom.xml and swapped in whole.
import { createHash } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "./processes.ts";

/** `toolsHint` says what to install, or which variable to set instead of running the service locally. */
export async function findJava(toolsHint: string): Promise<string> {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, "bin", "java") : "java";
  const result = await runCommand(java, ["-version"]).catch(() => undefined);
  if (result === undefined || result.code !== 0) throw new Error(`${toolsHint} (${java} not found)`);
  // "17.0.15" and "21" name their major version first; Java 8 still says "1.8.0".
  const [first, second] = (/version "([\d.]+)/.exec(result.output)?.[1] ?? "0").split(".").map(Number);
  const major = first === 1 ? (second ?? 0) : (first ?? 0);
  if (major < 17) throw new Error(`${toolsHint} (found Java ${major} at ${java})`);
  return java;
}

/**
 * Fills `libsDir` with `fetch(partialDir)` unless it already matches the current pom.xml (its hash is kept in
 * `.pom-hash`). The jars are fetched into a side directory and swapped in whole, so an interrupted download
 * never looks complete.
 */
export async function ensurePinnedJars(options: {
  pomFile: string;
  libsDir: string;
  partialDir: string;
  announce: () => void;
  fetch: (partialDir: string) => Promise<void>;
}): Promise<void> {
  const pomHash = createHash("sha256")
    .update(await readFile(options.pomFile))
    .digest("hex");
  const storedHash = await readFile(join(options.libsDir, ".pom-hash"), "utf8").catch(() => "");
  if (storedHash.trim() === pomHash) return;
  options.announce();
  await rm(options.partialDir, { recursive: true, force: true });
  await options.fetch(options.partialDir);
  await writeFile(join(options.partialDir, ".pom-hash"), pomHash);
  await rm(options.libsDir, { recursive: true, force: true });
  await rename(options.partialDir, options.libsDir);
}

/** `mvn dependency:copy-dependencies` of `pomFile` into `outputDirectory`, with extra Maven arguments. */
export async function copyPinnedDependencies(options: {
  pomFile: string;
  outputDirectory: string;
  extraArgs?: string[];
  what: string;
  toolsHint: string;
}): Promise<void> {
  const args = [
    "-q",
    "-B",
    "-f",
    options.pomFile,
    "dependency:copy-dependencies",
    `-DoutputDirectory=${options.outputDirectory}`,
    ...(options.extraArgs ?? []),
  ];
  const result = await runCommand("mvn", args).catch(() => undefined);
  if (result === undefined) throw new Error(`${options.toolsHint} (mvn not found)`);
  if (result.code !== 0) {
    throw new Error(
      `Maven could not fetch the ${options.what} pinned in ${options.pomFile}:\n${result.output.slice(-3000)}`,
    );
  }
}

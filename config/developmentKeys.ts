// The keys a checkout makes up for itself when none is configured (PHI_MASTER_KEYS, AUDIT_SIGNING_KEY): made
// once under .data/ and shared by every process of the checkout.
import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * The text of `file`, made by `make` when there is none yet. Processes that start together (npm start's API
 * processes, a test run's) end up with the same key: each writes a candidate to a file of its own and links it
 * into place, which succeeds for exactly one of them and never overwrites (as a write with `wx`), and all of
 * them read the one that won. Unlike a `wx` write, the file never exists without its whole key: a process that
 * lost the race and read it at once could find it still empty.
 */
export function readOrMakeKeyFile(file: string, make: () => string): string {
  const existing = readIfThere(file);
  if (existing !== undefined) return existing;
  mkdirSync(dirname(file), { recursive: true });
  const candidate = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(candidate, make(), { mode: 0o600, flag: "wx" });
  try {
    linkSync(candidate, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    rmSync(candidate, { force: true });
  }
  return readFileSync(file, "utf8");
}

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

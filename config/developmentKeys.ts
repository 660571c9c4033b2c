// The keys a checkout makes up for itself when none is configured (PHI_MASTER_KEYS, AUDIT_SIGNING_KEY, the
// bearer tokens' JWT_SECRET): made once under .data/ and shared by every process of the checkout. Never in
// production (NODE_ENV=production), where a missing key is a configuration error naming its variable: a
// made-up master key would seal patient data under a key no operator holds or backs up, a made-up signing key
// would sign the history with a key no auditor knows, and a made-up token secret would let whoever reads its
// file sign tokens of any role; and each process of a fleet would make its own.
import { randomBytes } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { ConfigError } from "./env.ts";

function isProduction(env: { NODE_ENV?: string }): boolean {
  return env.NODE_ENV === "production";
}

export interface DevelopmentKey {
  /** The variable that, set, replaces the development key: named in the refusal. */
  variable: string;
  /** What to set it to, for the refusal: `an Ed25519 private key in PKCS#8 PEM (…)`. */
  expected: string;
  /** Where the checkout keeps its key. */
  file: string;
  /** A new key, as the file's text. */
  make: () => string;
  /**
   * Whether the refusal says where a key made up before lies, so that it can be kept: a key whose work is
   * stored (patient data sealed, checkpoints signed) must not be lost. Not a token secret: its tokens expire,
   * and `npm run token` signs any role with it.
   */
  keepMadeBefore: boolean;
}

/** The development key kept in `file`, made when there is none yet; in production, a ConfigError naming `variable`. */
export function developmentKey(
  { variable, expected, file, make, keepMadeBefore }: DevelopmentKey,
  env: { NODE_ENV?: string } = process.env,
): string {
  if (isProduction(env)) {
    // A deployment that ran on a made-up key before it was refused must not lose what it sealed or signed.
    const madeBefore =
      keepMadeBefore && existsSync(file)
        ? `; ${file} holds the one made up before: to keep it, set ${variable} to that file's content`
        : "";
    throw new ConfigError([
      `${variable}: must be set when NODE_ENV=production, to ${expected}; a development key is made up only outside production${madeBefore}`,
    ]);
  }
  return readOrMakeKeyFile(file, make);
}

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

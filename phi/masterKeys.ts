// The master keys that wrap every patient's data key. PHI_MASTER_KEYS lists them as `id:base64key`,
// comma-separated: the first wraps new and re-wrapped keys, the others are kept only to unwrap the keys
// still wrapped by them, until `npm run phi:rewrap` has moved those to the first (rotation). Unset, outside
// production only, one key is made up once and kept in .data/ (like the audit signing key); in production
// (NODE_ENV=production) it must be set.
import { randomBytes } from "node:crypto";
import { developmentKey } from "../config/developmentKeys.ts";
import { ConfigError } from "../config/env.ts";
import { projectPath } from "../config/projectRoot.ts";
import { KEY_BYTES } from "./fieldCipher.ts";

export interface MasterKeys {
  /** The id of the key that wraps: recorded next to every key it wraps. */
  readonly currentId: string;
  readonly keys: ReadonlyMap<string, Buffer>;
}

const VARIABLE = "PHI_MASTER_KEYS";
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const developmentKeyFile = projectPath(".data", "phi-master-keys");

/** Parses PHI_MASTER_KEYS' format; the message names the variable and the entry, never a key's bytes. */
export function parseMasterKeys(text: string, variable = VARIABLE): MasterKeys {
  const entries = text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  const problem = (message: string) => new ConfigError([`${variable}: ${message}`]);
  if (entries.length === 0) throw problem("list at least one key as id:base64key");
  const keys = new Map<string, Buffer>();
  entries.forEach((entry, index) => {
    const separator = entry.indexOf(":");
    const id = separator > 0 ? entry.slice(0, separator) : "";
    if (!KEY_ID.test(id)) {
      throw problem(
        `entry ${index + 1} must start with a key id of letters, digits, '.', '_' or '-', then ':'`,
      );
    }
    const text = entry.slice(separator + 1);
    // Node's decoder skips what is not base64 (quotes, blanks, a stray character) and takes base64url too: the
    // key is exactly the text given, or refused.
    if (!BASE64.test(text)) {
      throw problem(
        `key "${id}" is not base64: only letters, digits, '+' and '/', then '=' padding (openssl rand -base64 32)`,
      );
    }
    const key = Buffer.from(text, "base64");
    if (key.length !== KEY_BYTES) {
      throw problem(
        `key "${id}" must be ${KEY_BYTES} bytes in base64 (openssl rand -base64 32), not ${key.length}`,
      );
    }
    // One text per key: no padding left off or added, no bits past the key's last byte.
    if (key.toString("base64") !== text) {
      throw problem(
        `key "${id}" must be written as openssl rand -base64 32 writes it: 44 characters, the last one '='`,
      );
    }
    if (keys.has(id)) throw problem(`key id "${id}" is listed twice`);
    keys.set(id, key);
  });
  return { currentId: entries[0]?.split(":")[0] as string, keys };
}

/** A new PHI_MASTER_KEYS entry: what an operator puts first to rotate. */
export function newMasterKeyEntry(id: string): string {
  return `${id}:${randomBytes(KEY_BYTES).toString("base64")}`;
}

/**
 * This process's master keys: read once at its start (process/frame.ts) and passed to what needs them. Unset,
 * the checkout's development key (kept in `file`), or in production a ConfigError naming PHI_MASTER_KEYS.
 */
export function loadMasterKeys(
  env: NodeJS.ProcessEnv = process.env,
  file: string = developmentKeyFile,
): MasterKeys {
  const configured = env[VARIABLE];
  // Empty is unset, as for every variable; blanks are a value, refused (never the development key in their place).
  if (configured !== undefined && configured !== "") return parseMasterKeys(configured);
  const development = developmentKey(
    {
      variable: VARIABLE,
      expected: "id:base64key (a 32-byte key: openssl rand -base64 32)",
      file,
      make: () => `${newMasterKeyEntry("development")}\n`,
      keepMadeBefore: true,
    },
    env,
  );
  return parseMasterKeys(development, `${VARIABLE} (unset; ${file})`);
}

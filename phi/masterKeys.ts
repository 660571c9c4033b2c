// The master keys that wrap every patient's data key. PHI_MASTER_KEYS lists them as `id:base64key`,
// comma-separated, each 32 bytes of its own in base64 or base64url, padded or not: the first wraps new and
// re-wrapped keys, the others are kept only to unwrap the keys still wrapped by them, until `npm run phi:rewrap`
// has moved those to the first (rotation). Unset, outside production only, one key is made up once and kept in
// .data/ (like the audit signing key); in production (NODE_ENV=production) it must be set.
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
/** Either alphabet's characters, then at most two '=': what any spelling of a key is made of. */
const BASE64_CHARACTERS = /^[A-Za-z0-9+/_-]*={0,2}$/;
/** Where RFC 4648's two alphabets differ: base64 (§4, as openssl writes it) and base64url (§5). */
const BASE64_ONLY = /[+/]/;
const BASE64URL_ONLY = /[-_]/;

const developmentKeyFile = projectPath(".data", "phi-master-keys");

/** Parses PHI_MASTER_KEYS' format; the message names the variable and the entry, never a key's bytes. */
export function parseMasterKeys(text: string, variable = VARIABLE): MasterKeys {
  const entries = text.split(",").map((entry) => entry.trim());
  const problem = (message: string) => new ConfigError([`${variable}: ${message}`]);
  if (entries.every((entry) => entry === "")) throw problem("list at least one key as id:base64key");
  const keys = new Map<string, Buffer>();
  entries.forEach((entry, index) => {
    // Skipped, it could hide a key lost in the copy, or a ',' typed for another character.
    if (entry === "") {
      throw problem(`entry ${index + 1} is empty: separate the keys by one ',', with none at the end`);
    }
    const separator = entry.indexOf(":");
    const id = separator > 0 ? entry.slice(0, separator) : "";
    if (!KEY_ID.test(id)) {
      throw problem(
        `entry ${index + 1} must start with a key id of letters, digits, '.', '_' or '-', then ':'`,
      );
    }
    const key = masterKeyBytes(entry.slice(separator + 1), (message) => problem(`key "${id}" ${message}`));
    if (keys.has(id)) throw problem(`key id "${id}" is listed twice`);
    keys.set(id, key);
  });
  const repeated = repeatedKeyProblems(keys);
  if (repeated.length > 0) throw new ConfigError(repeated.map((message) => `${variable}: ${message}`));
  return { currentId: entries[0]?.split(":")[0] as string, keys };
}

/**
 * The keys whose bytes are listed under more than one id, named by their ids: rotating from one of those ids to
 * another would re-wrap every patient key with the key that already wraps it, and `npm run phi:rewrap` would
 * report success.
 */
function repeatedKeyProblems(keys: ReadonlyMap<string, Buffer>): string[] {
  const idsByKey = new Map<string, string[]>();
  for (const [id, key] of keys) {
    const bytes = key.toString("hex");
    idsByKey.set(bytes, [...(idsByKey.get(bytes) ?? []), id]);
  }
  return [...idsByKey.values()]
    .filter((ids) => ids.length > 1)
    .map((ids) => {
      const named = ids.map((id) => `"${id}"`);
      return `keys ${named.slice(0, -1).join(", ")} and ${named.at(-1)} are the same key, so a rotation between them would change nothing: give each id a key of its own (openssl rand -base64 32)`;
    });
}

/**
 * The 32 bytes a key's text spells in base64 or base64url, padded or not, if the text is exactly what encoding
 * those bytes writes. Node's decoder is no judge of that: it skips what is not base64 (quotes, blanks, a stray
 * character), takes both alphabets in one text and ignores bits past the last byte, so a mistyped key could
 * still make 32 bytes, just not the ones meant.
 */
function masterKeyBytes(text: string, problem: (message: string) => ConfigError): Buffer {
  if (!BASE64_CHARACTERS.test(text)) {
    throw problem(
      "is not base64: only letters, digits, and '+' and '/' (base64, as openssl rand -base64 32 writes it) or '-' and '_' (base64url), then '=' padding or none",
    );
  }
  if (BASE64_ONLY.test(text) && BASE64URL_ONLY.test(text)) {
    throw problem("mixes base64's '+' or '/' with base64url's '-' or '_': write it in one alphabet");
  }
  // Both alphabets decode alike: the text was just found to hold one of them only.
  const key = Buffer.from(text, "base64");
  if (key.length !== KEY_BYTES) {
    throw problem(`must be ${KEY_BYTES} bytes in base64 (openssl rand -base64 32), not ${key.length}`);
  }
  const unpadded = text.replace(/=+$/, "");
  const written = BASE64URL_ONLY.test(text)
    ? key.toString("base64url")
    : key.toString("base64").replace(/=+$/, "");
  if (unpadded !== written) {
    throw problem(
      `sets bits past its ${KEY_BYTES} bytes in its last character: it is not a key as an encoder writes it`,
    );
  }
  const padding = text.length - unpadded.length;
  if (padding !== 0 && padding !== paddingOf(KEY_BYTES)) {
    throw problem(`is padded with ${padding} '=': ${KEY_BYTES} bytes take ${paddingOf(KEY_BYTES)}, or none`);
  }
  return key;
}

/** The '=' that padded base64 of this many bytes ends with. */
function paddingOf(bytes: number): number {
  return (3 - (bytes % 3)) % 3;
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

// The Ed25519 key that signs history checkpoints: AUDIT_SIGNING_KEY (a PKCS#8 PEM private key) when set;
// otherwise, outside production only, one made up once and kept in .data/; in production (NODE_ENV=production)
// it must be set. Beside it, the public halves of the keys it replaced (AUDIT_PREVIOUS_PUBLIC_KEYS): the
// checkpoints and archives they signed stay verifiable after a rotation.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { developmentKey } from "../config/developmentKeys.ts";
import { ConfigError, readEach } from "../config/env.ts";
import { projectPath } from "../config/projectRoot.ts";

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The first 16 hex digits of the SHA-256 of the public key (SPKI DER): names the key in each checkpoint. */
  keyId: string;
  /**
   * The public keys whose signatures this deployment accepts, by key id: this key's, and those of the signing
   * keys it replaced (AUDIT_PREVIOUS_PUBLIC_KEYS).
   */
  trusted: ReadonlyMap<string, KeyObject>;
}

const developmentKeyFile = projectPath(".data", "audit-signing-key.pem");

const EXPECTED = "an Ed25519 private key in PKCS#8 PEM (openssl genpkey -algorithm ed25519)";

/**
 * The signing key a PEM private key holds; anything else is a ConfigError naming `variable` (AUDIT_SIGNING_KEY,
 * or the development key's file) and what is wrong with it, never the key.
 */
export function signingKeyFromPem(pem: string, variable = "AUDIT_SIGNING_KEY"): SigningKey {
  const refused = (what: string) => new ConfigError([`${variable}: ${what}; expected ${EXPECTED}`]);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    // OpenSSL says only "unsupported": say what the value looks like instead.
    throw refused(unreadablePem(pem));
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw refused(`is a key of type ${privateKey.asymmetricKeyType ?? "unknown"}, not Ed25519`);
  }
  const publicKey = createPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  return { privateKey, publicKey, keyId, trusted: new Map([[keyId, publicKey]]) };
}

function unreadablePem(pem: string): string {
  if (!pem.includes("-----BEGIN ")) return "is not PEM (no -----BEGIN PRIVATE KEY----- line)";
  if (pem.includes("\\n") && !pem.includes("\n")) {
    return 'is on one line, its line breaks written as \\n: set it with the PEM\'s real line breaks (AUDIT_SIGNING_KEY="$(cat key.pem)")';
  }
  if (pem.includes("PUBLIC KEY-----")) return "is a public key: the private key is needed to sign";
  if (pem.includes("ENCRYPTED PRIVATE KEY-----")) return "is encrypted: give the key without a passphrase";
  return "is not a readable PEM private key";
}

/**
 * A public key to verify with, from a PEM file's text: the key of an earlier signing key, say, that an old
 * archive was signed with. `what` names the key's source in the error.
 */
export function verifyingKeyFromPem(pem: string, what: string): { publicKey: KeyObject; keyId: string } {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey(pem);
  } catch (error) {
    throw new Error(`${what} is not a PEM public key: ${(error as Error).message}`);
  }
  if (publicKey.asymmetricKeyType !== "ed25519") {
    throw new Error(`${what} must be an Ed25519 key, not ${publicKey.asymmetricKeyType}`);
  }
  return { publicKey, keyId: keyIdOf(publicKey) };
}

function keyIdOf(publicKey: KeyObject): string {
  return createHash("sha256")
    .update(publicKey.export({ format: "der", type: "spki" }))
    .digest("hex")
    .slice(0, 16);
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[^-]*-----END \1-----/g;

/**
 * The public keys of earlier signing keys, from the PEM blocks of `value` (AUDIT_PREVIOUS_PUBLIC_KEYS), by key
 * id; unset or blank: none. Anything but Ed25519 public keys (a private key, text between the blocks) is a
 * ConfigError naming the variable and the block, never the key.
 */
export function previousPublicKeys(
  value: string | undefined,
  variable = "AUDIT_PREVIOUS_PUBLIC_KEYS",
): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  if (!value?.trim()) return keys;
  const refused = (what: string) =>
    new ConfigError([
      `${variable}: ${what}; expected the PEM public keys of earlier signing keys, one block after another (openssl pkey -in old-key.pem -pubout)`,
    ]);
  if (value.includes("\\n") && !value.includes("\n")) {
    throw refused("is on one line, its line breaks written as \\n: set it with the PEMs' real line breaks");
  }
  const blocks = [...value.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) throw refused("holds no PEM block (no -----BEGIN PUBLIC KEY----- line)");
  if (value.replace(PEM_BLOCK, "").trim() !== "") throw refused("holds text outside its PEM blocks");
  for (const [index, [block, label]] of blocks.entries()) {
    const which = `block ${index + 1}`;
    if (label !== "PUBLIC KEY") {
      throw refused(
        /PRIVATE KEY/.test(label ?? "")
          ? `${which} is a private key: give only its public half`
          : `${which} is a ${label}, not a PUBLIC KEY`,
      );
    }
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey(block);
    } catch {
      throw refused(`${which} is not a readable PEM public key`);
    }
    if (publicKey.asymmetricKeyType !== "ed25519") {
      throw refused(`${which} is a key of type ${publicKey.asymmetricKeyType ?? "unknown"}, not Ed25519`);
    }
    keys.set(keyIdOf(publicKey), publicKey);
  }
  return keys;
}

/**
 * The signing key: AUDIT_SIGNING_KEY, else the checkout's development key (kept in `file`), or in production a
 * ConfigError naming AUDIT_SIGNING_KEY; trusting, beside its own, the keys AUDIT_PREVIOUS_PUBLIC_KEYS names.
 * Both variables' problems are one ConfigError.
 */
export function loadSigningKey(
  env: NodeJS.ProcessEnv = process.env,
  file: string = developmentKeyFile,
): SigningKey {
  const { key, previous } = readEach({
    key: () => currentSigningKey(env, file),
    previous: () => previousPublicKeys(env.AUDIT_PREVIOUS_PUBLIC_KEYS),
  });
  return { ...key, trusted: new Map([...previous, ...key.trusted]) };
}

function currentSigningKey(env: NodeJS.ProcessEnv, file: string): SigningKey {
  if (env.AUDIT_SIGNING_KEY) return signingKeyFromPem(env.AUDIT_SIGNING_KEY);
  const development = developmentKey(
    {
      variable: "AUDIT_SIGNING_KEY",
      expected: EXPECTED,
      file,
      make: () =>
        generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }) as string,
      keepMadeBefore: true,
    },
    env,
  );
  return signingKeyFromPem(development, `AUDIT_SIGNING_KEY (unset; ${file})`);
}

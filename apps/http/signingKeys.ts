// Where bearer tokens' signatures are checked against: JWT_SECRET (HS256), JWT_JWKS_URL (an identity
// provider's public keys, e.g. Supabase's), or else a development secret that the local stack makes up once
// under .data/, which `npm run token` signs with too.
import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { stackPaths } from "../../stack/processes.ts";

export type SigningKeys =
  | { kind: "secret"; secret: Uint8Array; origin: "JWT_SECRET" | "development" }
  | { kind: "jwks"; url: URL };

export const developmentSecretFile = join(stackPaths.data, "jwt-development-secret");

export async function signingKeys(
  env: { JWT_SECRET?: string; JWT_JWKS_URL?: string },
  secretFile = developmentSecretFile,
): Promise<SigningKeys> {
  if (env.JWT_SECRET) return { kind: "secret", secret: encode(env.JWT_SECRET), origin: "JWT_SECRET" };
  if (env.JWT_JWKS_URL) return { kind: "jwks", url: new URL(env.JWT_JWKS_URL) };
  return { kind: "secret", secret: encode(await developmentSecret(secretFile)), origin: "development" };
}

/**
 * Reads the development secret, creating it on first use. Several processes may start at once (the platform,
 * a service, `npm run token`): the secret is written to a file of its own and then hard-linked into place,
 * which succeeds for exactly one of them, so all of them end up with the same secret.
 */
export async function developmentSecret(secretFile = developmentSecretFile): Promise<string> {
  const existing = await readFile(secretFile, "utf8").catch(() => undefined);
  if (existing?.trim()) return existing.trim();
  const candidate = `${secretFile}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await mkdir(dirname(secretFile), { recursive: true });
  await writeFile(candidate, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600 });
  try {
    await link(candidate, secretFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await rm(candidate, { force: true });
  }
  return (await readFile(secretFile, "utf8")).trim();
}

// HS256 keys are the secret's UTF-8 bytes, as Supabase and most issuers of shared-secret tokens use them.
const encode = (secret: string) => new TextEncoder().encode(secret);

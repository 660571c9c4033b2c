// Where bearer tokens' signatures are checked against: JWT_SECRET (HS256), JWT_JWKS_URL (an identity
// provider's public keys, e.g. Supabase's), or else, outside production only, a development secret that the
// local stack makes up once under .data/, which `npm run token` signs with too. In production
// (NODE_ENV=production) one of the two variables must be set, and JWT_ISSUER and JWT_AUDIENCE too.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { developmentKey } from "../../config/developmentKeys.ts";
import { ConfigError, type Env, MIN_JWT_SECRET_LENGTH, readEach } from "../../config/env.ts";
import { stackPaths } from "../../stack/processes.ts";

export type SigningKeys =
  | { kind: "secret"; secret: Uint8Array; origin: "JWT_SECRET" | "development" }
  | { kind: "jwks"; url: URL };

export const developmentSecretFile = join(stackPaths.data, "jwt-development-secret");

/**
 * The keys tokens are checked against, from the checked environment (loadEnv refuses a short JWT_SECRET, and
 * both variables at once). With neither, the checkout's development secret (kept in `secretFile`), or in
 * production a ConfigError naming JWT_SECRET and JWT_JWKS_URL; in production, JWT_ISSUER and JWT_AUDIENCE
 * unset are one too. Read with the rest of the configuration, so that a refusal stops a start before it does
 * anything.
 */
export function signingKeys(
  env: Pick<Env, "JWT_SECRET" | "JWT_JWKS_URL" | "JWT_ISSUER" | "JWT_AUDIENCE" | "NODE_ENV">,
  secretFile = developmentSecretFile,
): SigningKeys {
  // Each problem is told, the keys' and the claims' in one list.
  return readEach({
    claims: () => env.NODE_ENV === "production" && requireIssuerAndAudience(env),
    keys: (): SigningKeys => {
      if (env.JWT_SECRET) return { kind: "secret", secret: encode(env.JWT_SECRET), origin: "JWT_SECRET" };
      if (env.JWT_JWKS_URL) return { kind: "jwks", url: keySetUrl(env.JWT_JWKS_URL, env) };
      return { kind: "secret", secret: encode(developmentSecret(env, secretFile)), origin: "development" };
    },
  }).keys;
}

/**
 * In production a token must name who issued it and whom it is for (RFC 8725 §3.8, §3.9): an identity
 * provider's keys, or a project's shared secret, sign the tokens of every application it serves, and without
 * JWT_AUDIENCE a token made for another of them would be taken here, its role with it.
 */
function requireIssuerAndAudience(env: Pick<Env, "JWT_ISSUER" | "JWT_AUDIENCE">): void {
  const problems = [
    ...(env.JWT_ISSUER
      ? []
      : [
          "JWT_ISSUER: must be set when NODE_ENV=production, to the `iss` every token carries (Supabase: https://<project>.supabase.co/auth/v1)",
        ]),
    ...(env.JWT_AUDIENCE?.length
      ? []
      : [
          "JWT_AUDIENCE: must be set when NODE_ENV=production, to the audiences (comma-separated) one of which a token's `aud` must hold (Supabase: authenticated)",
        ]),
  ];
  if (problems.length > 0) throw new ConfigError(problems);
}

/**
 * The development secret, made up on first use. Several processes may start at once (the platform, a service,
 * `npm run token`): all of them end up with the same secret (config/developmentKeys.ts).
 */
function developmentSecret(env: { NODE_ENV?: string }, secretFile: string): string {
  const secret = developmentKey(
    {
      variable: "JWT_SECRET or JWT_JWKS_URL",
      expected: `an HS256 secret of at least ${MIN_JWT_SECRET_LENGTH} characters (openssl rand -base64 32), or the http(s) URL of the identity provider's JSON Web Key Set`,
      file: secretFile,
      make: () => `${randomBytes(32).toString("base64url")}\n`,
      keepMadeBefore: false,
    },
    env,
  ).trim();
  if (secret.length < MIN_JWT_SECRET_LENGTH) {
    throw new ConfigError([
      `JWT_SECRET (unset; ${secretFile}): the development secret must be at least ${MIN_JWT_SECRET_LENGTH} characters; remove the file to have a new one made`,
    ]);
  }
  return secret;
}

// HS256 keys are the secret's UTF-8 bytes, as Supabase and most issuers of shared-secret tokens use them.
const encode = (secret: string) => new TextEncoder().encode(secret);

/**
 * The key set's address. In production it must be https (or this machine's loopback, a sidecar's): keys fetched
 * over plain http from elsewhere could be swapped on the way, and then anyone's token would verify.
 */
function keySetUrl(value: string, env: { NODE_ENV?: string }): URL {
  const url = new URL(value);
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (env.NODE_ENV === "production" && url.protocol !== "https:" && !loopback) {
    throw new ConfigError([
      `JWT_JWKS_URL=${value}: must be an https URL when NODE_ENV=production (plain http only to this machine's loopback)`,
    ]);
  }
  return url;
}

// The keys bearer tokens are checked against: JWT_SECRET or JWT_JWKS_URL as given, else a development secret
// made up once for the checkout, which the token script signs with; never in production, where neither set
// is a configuration error naming both.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { configProblems } from "../../test/configProblems.ts";
import { createTokenVerifier } from "./auth.ts";
import { issueToken } from "./issueToken.ts";
import { signingKeys } from "./signingKeys.ts";

const dir = mkdtempSync(join(tmpdir(), "signing-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const secret = "a-shared-secret-of-at-least-32-characters";
const jwksUrl = "https://project.supabase.co/auth/v1/.well-known/jwks.json";

describe("the development secret", () => {
  it("is made up once, readable by its owner only, when neither JWT_SECRET nor JWT_JWKS_URL is set", () => {
    const file = join(dir, "made-once", "jwt-development-secret");
    const first = signingKeys({}, file);
    if (first.kind !== "secret") throw new Error("expected a secret");
    expect(first.origin).toBe("development");
    const text = new TextDecoder().decode(first.secret);
    expect(text).toHaveLength(43); // 32 random bytes, base64url
    expect(readFileSync(file, "utf8").trim()).toBe(text);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(signingKeys({}, file)).toEqual(first);
  });

  it("signs what the server verifies", async () => {
    const file = join(dir, "shared");
    const keys = signingKeys({}, file);
    if (keys.kind !== "secret") throw new Error("expected a secret");
    const verify = createTokenVerifier(signingKeys({}, file));
    expect(await verify(await issueToken(keys.secret, { role: "admin" }))).toMatchObject({ role: "admin" });
  });

  it("is refused when its file holds less than a secret, rather than signing with it", () => {
    const file = join(dir, "emptied");
    writeFileSync(file, "\n");
    expect(configProblems((env) => signingKeys(env, file), {})).toEqual([
      `JWT_SECRET (unset; ${file}): the development secret must be at least 32 characters; remove the file to have a new one made`,
    ]);
  });

  it("is not made when either variable is set", () => {
    const file = join(dir, "never-made");
    expect(signingKeys({ JWT_SECRET: secret }, file)).toEqual({
      kind: "secret",
      secret: new TextEncoder().encode(secret),
      origin: "JWT_SECRET",
    });
    expect(signingKeys({ JWT_JWKS_URL: jwksUrl }, file)).toEqual({ kind: "jwks", url: new URL(jwksUrl) });
    expect(readdirSync(dir)).not.toContain("never-made");
  });
});

describe("in production (NODE_ENV=production)", () => {
  const production = {
    NODE_ENV: "production",
    JWT_ISSUER: "https://project.supabase.co/auth/v1",
    JWT_AUDIENCE: ["authenticated"],
  };

  it("neither JWT_SECRET nor JWT_JWKS_URL is a configuration error naming both, and no secret is made", () => {
    const file = join(dir, "production", "jwt-development-secret");
    expect(configProblems((env) => signingKeys(env, file), production)).toEqual([
      "JWT_SECRET or JWT_JWKS_URL: must be set when NODE_ENV=production, to an HS256 secret of at least 32 characters (openssl rand -base64 32), or the http(s) URL of the identity provider's JSON Web Key Set; a development key is made up only outside production",
    ]);
    expect(readdirSync(dir)).not.toContain("production");
  });

  it("a development secret made before is not used, and the refusal neither prints it nor offers to keep it", () => {
    const file = join(dir, "made-before", "jwt-development-secret");
    const made = signingKeys({}, file);
    if (made.kind !== "secret") throw new Error("expected a secret");
    const [refusal] = configProblems((env) => signingKeys(env, file), production);
    expect(refusal).toMatch(/^JWT_SECRET or JWT_JWKS_URL: must be set when NODE_ENV=production/);
    expect(refusal).not.toContain(file);
    expect(refusal).not.toContain(new TextDecoder().decode(made.secret));
  });

  it("a key set over plain http is refused, naming JWT_JWKS_URL, unless it is on this machine's loopback", () => {
    const plain = "http://issuer.example.org/auth/v1/.well-known/jwks.json";
    expect(configProblems((env) => signingKeys(env), { ...production, JWT_JWKS_URL: plain })).toEqual([
      `JWT_JWKS_URL=${plain}: must be an https URL when NODE_ENV=production (plain http only to this machine's loopback)`,
    ]);
    for (const local of [
      "http://localhost:9999/jwks.json",
      "http://127.0.0.1/jwks.json",
      "http://[::1]/jwks.json",
    ]) {
      expect(signingKeys({ ...production, JWT_JWKS_URL: local })).toEqual({
        kind: "jwks",
        url: new URL(local),
      });
    }
    // Outside production the local identity provider of a test may serve it over http.
    expect(signingKeys({ JWT_JWKS_URL: plain })).toEqual({ kind: "jwks", url: new URL(plain) });
  });

  it("a token's issuer and audience must be named, whichever keys check it, each problem in one list with the keys'", () => {
    const claims = [
      "JWT_ISSUER: must be set when NODE_ENV=production, to the `iss` every token carries (Supabase: https://<project>.supabase.co/auth/v1)",
      "JWT_AUDIENCE: must be set when NODE_ENV=production, to the audiences (comma-separated) one of which a token's `aud` must hold (Supabase: authenticated)",
    ];
    const unnamed = { NODE_ENV: "production" };
    expect(configProblems((env) => signingKeys(env), { ...unnamed, JWT_SECRET: secret })).toEqual(claims);
    expect(configProblems((env) => signingKeys(env), { ...unnamed, JWT_JWKS_URL: jwksUrl })).toEqual(claims);
    expect(
      configProblems((env) => signingKeys(env), { ...unnamed, JWT_SECRET: secret, JWT_AUDIENCE: [] }),
    ).toEqual(claims);
    expect(
      configProblems((env) => signingKeys(env), {
        ...unnamed,
        JWT_ISSUER: production.JWT_ISSUER,
        JWT_SECRET: secret,
      }),
    ).toEqual([claims[1]]);
    const file = join(dir, "production-unnamed", "jwt-development-secret");
    expect(configProblems((env) => signingKeys(env, file), unnamed)).toEqual([
      ...claims,
      expect.stringMatching(/^JWT_SECRET or JWT_JWKS_URL: must be set when NODE_ENV=production/),
    ]);
    // Outside production they stay optional: unset, a token's iss and aud are not checked.
    expect(signingKeys({ JWT_SECRET: secret })).toMatchObject({ origin: "JWT_SECRET" });
  });

  it("the secret or the key set given is used", () => {
    expect(signingKeys({ ...production, JWT_SECRET: secret })).toMatchObject({ origin: "JWT_SECRET" });
    expect(signingKeys({ ...production, JWT_JWKS_URL: jwksUrl })).toEqual({
      kind: "jwks",
      url: new URL(jwksUrl),
    });
  });
});

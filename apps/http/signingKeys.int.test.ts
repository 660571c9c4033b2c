// Where token signatures are checked against: a JWKS URL as Supabase publishes one (served here on a local
// port), and the development secret that the local stack makes up once and shares between processes.
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenVerifier, InvalidToken, TokenCheckUnavailable } from "./auth.ts";
import { issueToken } from "./issueToken.ts";
import { developmentSecret, signingKeys } from "./signingKeys.ts";

describe("a JWKS URL", () => {
  let server: Server;
  let jwksUrl: string;
  const keyPair = generateKeyPair("ES256");

  beforeAll(async () => {
    const jwk = { ...(await exportJWK((await keyPair).publicKey)), kid: "key-1", alg: "ES256", use: "sig" };
    server = createServer((_, response) => {
      response.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth/v1/.well-known/jwks.json`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const supabaseToken = async (claims: Record<string, unknown>) =>
    new SignJWT({ role: "authenticated", app_metadata: { role: "provider" }, ...claims })
      .setProtectedHeader({ alg: "ES256", kid: "key-1" })
      .setSubject(randomUUID())
      .setExpirationTime("5m")
      .sign((await keyPair).privateKey);

  it("accepts tokens signed by one of its keys, as Supabase issues them", async () => {
    const verify = createTokenVerifier(await signingKeys({ JWT_JWKS_URL: jwksUrl }));
    const sessionId = randomUUID();
    expect(await verify(await supabaseToken({ session_id: sessionId }))).toMatchObject({
      role: "provider",
      sessionId,
    });
  });

  it("refuses HS256 tokens, which anyone holding the public key could forge", async () => {
    const verify = createTokenVerifier(await signingKeys({ JWT_JWKS_URL: jwksUrl }));
    const forged = await issueToken(new TextEncoder().encode(JSON.stringify({ kid: "key-1" }).repeat(2)), {
      role: "admin",
    });
    await expect(verify(forged)).rejects.toBeInstanceOf(InvalidToken);
  });

  it("reports an unreachable key set as unavailable, not as a bad token", async () => {
    const verify = createTokenVerifier({ kind: "jwks", url: new URL("http://127.0.0.1:9/jwks.json") });
    await expect(verify(await supabaseToken({}))).rejects.toBeInstanceOf(TokenCheckUnavailable);
  });
});

describe("the development secret", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "dev-secret-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("is made up once, readable by its owner only, and the same for processes that start together", async () => {
    const file = join(dir, "jwt-development-secret");
    const secrets = await Promise.all(Array.from({ length: 8 }, () => developmentSecret(file)));
    expect(new Set(secrets).size).toBe(1);
    expect(secrets[0]).toHaveLength(43); // 32 random bytes, base64url
    expect((await readFile(file, "utf8")).trim()).toBe(secrets[0]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await developmentSecret(file)).toBe(secrets[0]);
  });

  it("signs what the server verifies when neither JWT_SECRET nor JWT_JWKS_URL is set", async () => {
    const keys = await signingKeys({}, join(dir, "shared"));
    if (keys.kind !== "secret") throw new Error("expected a secret");
    expect(keys.origin).toBe("development");
    const verify = createTokenVerifier(await signingKeys({}, join(dir, "shared")));
    expect(await verify(await issueToken(keys.secret, { role: "admin" }))).toMatchObject({ role: "admin" });
  });
});

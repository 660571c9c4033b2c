// Where token signatures are checked against: a JWKS URL as Supabase publishes one, served here on a local
// port (the development secret and the refusals are in signingKeys.unit.test.ts).
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTokenVerifier, InvalidToken, TokenCheckUnavailable } from "./auth.ts";
import { issueToken } from "./issueToken.ts";
import { signingKeys } from "./signingKeys.ts";

describe("a JWKS URL", () => {
  let server: Server;
  let jwksUrl: string;
  const keyPair = generateKeyPair("ES256");

  /** The keys the server publishes: key-1 until a test withdraws it. */
  let published: unknown[] = [];

  beforeAll(async () => {
    const jwk = { ...(await exportJWK((await keyPair).publicKey)), kid: "key-1", alg: "ES256", use: "sig" };
    published = [jwk];
    server = createServer((_, response) => {
      response
        .writeHead(200, { "Content-Type": "application/json" })
        .end(JSON.stringify({ keys: published }));
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
    const verify = createTokenVerifier(signingKeys({ JWT_JWKS_URL: jwksUrl }));
    const sessionId = randomUUID();
    expect(await verify(await supabaseToken({ session_id: sessionId }))).toMatchObject({
      role: "provider",
      sessionId,
    });
  });

  it("refuses HS256 tokens, which anyone holding the public key could forge", async () => {
    const verify = createTokenVerifier(signingKeys({ JWT_JWKS_URL: jwksUrl }));
    const forged = await issueToken(new TextEncoder().encode(JSON.stringify({ kid: "key-1" }).repeat(2)), {
      role: "admin",
    });
    await expect(verify(forged)).rejects.toBeInstanceOf(InvalidToken);
  });

  it("refuses a key withdrawn from the set within a minute: jose's own default kept a fetched set ten", async () => {
    const verify = createTokenVerifier(signingKeys({ JWT_JWKS_URL: jwksUrl }));
    const withKey1 = published;
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
    try {
      await verify(await supabaseToken({}));
      published = [];
      // Within the minute the set fetched is still taken; after it, it is fetched again, and key-1 is gone.
      vi.setSystemTime(Date.now() + 30_000);
      await verify(await supabaseToken({}));
      vi.setSystemTime(Date.now() + 31_000);
      await expect(verify(await supabaseToken({}))).rejects.toBeInstanceOf(InvalidToken);
    } finally {
      vi.useRealTimers();
      published = withKey1;
    }
  });

  it("reports an unreachable key set as unavailable, not as a bad token", async () => {
    const verify = createTokenVerifier({ kind: "jwks", url: new URL("http://127.0.0.1:9/jwks.json") });
    await expect(verify(await supabaseToken({}))).rejects.toBeInstanceOf(TokenCheckUnavailable);
  });
});

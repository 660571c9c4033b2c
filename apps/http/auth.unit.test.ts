// Bearer tokens: which ones the verifier accepts, which principal it makes of them, and how the middleware
// answers a request without a usable one.
import { createHmac, randomUUID } from "node:crypto";
import { Hono } from "hono";
import { jwtVerify, SignJWT, UnsecuredJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Database } from "../../db/client.ts";
import { testPlatform, testSecret, testVerifier } from "../../test/tokens.ts";
import { type AuthEnv, authenticate, createTokenVerifier, InvalidToken } from "./auth.ts";
import { issueToken } from "./issueToken.ts";
import { type HttpProblem, problemResponse } from "./problem.ts";
import { type RequestContextEnv, requestContext } from "./requestContext.ts";

const sub = randomUUID();
const sign = (claims: Record<string, unknown>, secret = testSecret) =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(secret);

/** A token of a header and claims written as given (jose writes neither with a member twice). */
function signText(header: string, claims: string | Buffer): string {
  const signingInput = `${Buffer.from(header).toString("base64url")}.${Buffer.from(claims).toString("base64url")}`;
  return `${signingInput}.${createHmac("sha256", testSecret).update(signingInput).digest("base64url")}`;
}

describe("the token verifier", () => {
  it("checks the issuer and the audience when they are configured (JWT_ISSUER, JWT_AUDIENCE)", async () => {
    const issuer = "https://project.supabase.co/auth/v1";
    const verify = createTokenVerifier(
      { kind: "secret", secret: testSecret, origin: "JWT_SECRET" },
      { issuer, audience: ["authenticated"] },
    );
    const token = (claims: { issuer?: string; audience?: string[] }) =>
      issueToken(testSecret, { role: "patient", sub, ...claims });
    expect(await verify(await token({ issuer, audience: ["authenticated"] }))).toMatchObject({ userId: sub });
    await expect(
      verify(await token({ issuer: "https://elsewhere.example.org", audience: ["authenticated"] })),
    ).rejects.toThrow(/iss/);
    await expect(verify(await token({ issuer, audience: ["another-service"] }))).rejects.toThrow(/aud/);
    await expect(verify(await token({ issuer }))).rejects.toThrow(InvalidToken);
  });

  it("turns a valid token into a principal: subject, role and session", async () => {
    const sessionId = randomUUID();
    const token = await issueToken(testSecret, { role: "provider", sub, sessionId });
    expect(await testVerifier(token)).toEqual({ userId: sub, role: "provider", sessionId });
  });

  it("reads the role from app_metadata when `role` is not a platform role, as Supabase issues it", async () => {
    const token = await sign({ sub, role: "authenticated", app_metadata: { role: "patient" } });
    expect(await testVerifier(token)).toMatchObject({ role: "patient", sessionId: null });
  });

  it("reads the role claim whatever app_metadata holds, and app_metadata only as an object", async () => {
    for (const app_metadata of [null, "admin", ["patient"], 7, {}]) {
      expect(await testVerifier(await sign({ sub, role: "admin", app_metadata }))).toMatchObject({
        role: "admin",
      });
      await expect(testVerifier(await sign({ sub, role: "authenticated", app_metadata }))).rejects.toThrow(
        /no platform role/,
      );
    }
  });

  it("refuses a header or claims set after a byte order mark, as a request body is refused, and one not UTF-8", async () => {
    const header = '{"alg":"HS256","typ":"JWT"}';
    const claims = `{"sub":"${sub}","role":"admin","exp":${Math.floor(Date.now() / 1000) + 600}}`;
    expect(await testVerifier(signText(header, claims))).toMatchObject({ role: "admin" });
    await expect(testVerifier(signText(header, `\uFEFF${claims}`))).rejects.toThrow(
      "a byte order mark comes before the token's claims",
    );
    await expect(testVerifier(signText(`\uFEFF${header}`, claims))).rejects.toThrow(
      "a byte order mark comes before the token's header",
    );
    const notUtf8 = Buffer.concat([
      Buffer.from(claims.slice(0, -1)),
      Buffer.from(',"note":"\xff"}', "latin1"),
    ]);
    await expect(testVerifier(signText(header, notUtf8))).rejects.toBeInstanceOf(InvalidToken);
  });

  it("refuses a header or claims set that names a member twice, whichever value would be read", async () => {
    const claims = (role: string) => `"sub":"${sub}","exp":${Math.floor(Date.now() / 1000) + 600}${role}`;
    const header = '{"alg":"HS256","typ":"JWT"}';
    await expect(
      testVerifier(signText(header, `{${claims(',"role":"patient","role":"admin"')}}`)),
    ).rejects.toThrow("the token's claims member role is given more than once");
    await expect(
      testVerifier(signText(header, `{${claims(',"role":"admin","\u0072ole":"admin"')}}`)),
    ).rejects.toThrow(/claims member role is given more than once/);
    await expect(
      testVerifier(signText('{"alg":"HS256","alg":"HS256"}', `{${claims(',"role":"admin"')}}`)),
    ).rejects.toThrow("the token's header member alg is given more than once");
    // Each alone, the same token is taken: the check is the duplicate, not the signing.
    expect(await testVerifier(signText(header, `{${claims(',"role":"admin"')}}`))).toMatchObject({
      role: "admin",
    });
  });

  it("takes a subject and a session in any case, and answers them in lower case", async () => {
    for (const id of ["FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", sub.toUpperCase()]) {
      expect(await testVerifier(await sign({ sub: id, role: "admin", sid: id }))).toMatchObject({
        userId: id.toLowerCase(),
        sessionId: id.toLowerCase(),
      });
    }
  });

  it("takes the session from session_id or sid, and leaves out one that is not a UUID", async () => {
    const sid = randomUUID();
    expect(await testVerifier(await sign({ sub, role: "admin", sid }))).toMatchObject({ sessionId: sid });
    expect(await testVerifier(await sign({ sub, role: "admin", session_id: "s-1" }))).toMatchObject({
      sessionId: null,
    });
  });

  it.each([
    ["expired", () => issueToken(testSecret, { role: "admin", expiresIn: "-1m" }), /expired/],
    [
      "signed with another secret",
      () => sign({ sub, role: "admin" }, new TextEncoder().encode("x".repeat(40))),
      /signature/,
    ],
    [
      "unsigned (alg none)",
      async () => new UnsecuredJWT({ sub, role: "admin" }).setExpirationTime("1h").encode(),
      /malformed/,
    ],
    [
      "without an expiry",
      () => new SignJWT({ sub, role: "admin" }).setProtectedHeader({ alg: "HS256" }).sign(testSecret),
      /exp/,
    ],
    ["with a subject that is not a UUID", () => sign({ sub: "ada", role: "admin" }, testSecret), /sub/],
    ["without a platform role", () => sign({ sub, role: "authenticated" }), /no platform role/],
    ["not a JWT at all", async () => "not.a.jwt", /malformed/],
  ])("refuses a token %s", async (_, token, reason) => {
    const refusal = testVerifier(await token());
    await expect(refusal).rejects.toBeInstanceOf(InvalidToken);
    await expect(refusal).rejects.toThrow(reason);
  });
});

describe("a token's lifetime", () => {
  const nowS = () => Math.floor(Date.now() / 1000);
  const signed = (times: { iat?: number; exp: number }) =>
    new SignJWT({ sub, role: "admin", ...times }).setProtectedHeader({ alg: "HS256" }).sign(testSecret);

  it("is refused when the token says it was issued in the future (beyond 5 s of clock skew)", async () => {
    await expect(testVerifier(await signed({ iat: nowS() + 3600, exp: nowS() + 7200 }))).rejects.toThrow(
      "the token's iat claim is in the future",
    );
    await expect(testVerifier(await signed({ iat: nowS() + 60, exp: nowS() + 3600 }))).rejects.toThrow(
      InvalidToken,
    );
    expect(await testVerifier(await signed({ iat: nowS() + 3, exp: nowS() + 3600 }))).toMatchObject({
      userId: sub,
    });
  });

  it("is at most 24 hours from iat to exp, or from now to exp without an iat", async () => {
    expect(await testVerifier(await signed({ iat: nowS(), exp: nowS() + 24 * 3600 }))).toMatchObject({
      role: "admin",
    });
    expect(await testVerifier(await signed({ exp: nowS() + 23 * 3600 }))).toMatchObject({ role: "admin" });
    for (const times of [
      { iat: nowS(), exp: nowS() + 25 * 3600 },
      // Most of it spent already, but issued for 31 hours.
      { iat: nowS() - 30 * 3600, exp: nowS() + 3600 },
      { exp: nowS() + 100 * 365 * 86_400 },
    ]) {
      const refusal = testVerifier(await signed(times));
      await expect(refusal).rejects.toBeInstanceOf(InvalidToken);
      await expect(refusal).rejects.toThrow(
        /^the token lives \d+ h from iat to exp, over the 24 h a token may live$/,
      );
    }
  });

  it("is what JWT_MAX_LIFETIME_HOURS says when it is set", async () => {
    const keys = { kind: "secret", secret: testSecret, origin: "JWT_SECRET" } as const;
    const weekLong = await signed({ iat: nowS(), exp: nowS() + 7 * 86_400 });
    const hourLong = await signed({ iat: nowS(), exp: nowS() + 3600 });
    expect(await createTokenVerifier(keys, { maxLifetimeHours: 168 })(weekLong)).toMatchObject({
      userId: sub,
    });
    const strict = createTokenVerifier(keys, { maxLifetimeHours: 1 });
    expect(await strict(hourLong)).toMatchObject({ userId: sub });
    await expect(strict(await issueToken(testSecret, { role: "admin", expiresIn: "2h" }))).rejects.toThrow(
      "over the 1 h a token may live",
    );
  });
});

describe("a token verified before", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });
  const secretVerifier = () =>
    createTokenVerifier({ kind: "secret", secret: testSecret, origin: "JWT_SECRET" });

  it("is taken again without checking its signature, for a minute at most", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const verify = secretVerifier();
    const signatureChecks = vi.spyOn(crypto.subtle, "verify");
    const token = await issueToken(testSecret, { role: "patient", sub });
    const principal = await verify(token);
    expect(await verify(token)).toEqual(principal);
    expect(signatureChecks).toHaveBeenCalledTimes(1);

    vi.setSystemTime(Date.now() + 61_000);
    expect(await verify(token)).toEqual(principal);
    expect(signatureChecks).toHaveBeenCalledTimes(2);
  });

  it("is refused once it has expired, as any token is", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const verify = secretVerifier();
    const token = await issueToken(testSecret, { role: "patient", sub, expiresIn: "30s" });
    await verify(token);
    // Past its exp and the 5 s of clock tolerance, within the minute it would otherwise be trusted.
    vi.setSystemTime(Date.now() + 36_000);
    await expect(verify(token)).rejects.toThrow(/expired/);
  });

  it("was never kept when it was refused", async () => {
    const verify = secretVerifier();
    const signatureChecks = vi.spyOn(crypto.subtle, "verify");
    const forged = await sign({ sub, role: "admin" }, new TextEncoder().encode("y".repeat(40)));
    await expect(verify(forged)).rejects.toBeInstanceOf(InvalidToken);
    await expect(verify(forged)).rejects.toBeInstanceOf(InvalidToken);
    expect(signatureChecks).toHaveBeenCalledTimes(2);
  });
});

describe("the authenticate middleware", () => {
  const app = new Hono<RequestContextEnv & AuthEnv>()
    .use(requestContext())
    .use(authenticate(testVerifier))
    .get("/whoami", (c) =>
      c.json({ principal: c.get("principal"), metadata: c.get("requestContext").metadata }),
    )
    .onError((error, c) => problemResponse(c, error as HttpProblem));

  it("puts the principal into the request and its user and session into the event metadata", async () => {
    const sessionId = randomUUID();
    const token = await issueToken(testSecret, { role: "patient", sub, sessionId });
    const response = await app.request("/whoami", { headers: { Authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      principal: { userId: sub, role: "patient", sessionId },
      metadata: { userId: sub, sessionId },
    });
  });

  it.each([
    ["no Authorization header", {}, 'Bearer realm="healthcare-platform"'],
    ["a Basic credential", { Authorization: "Basic YWRhOnNlY3JldA==" }, 'Bearer realm="healthcare-platform"'],
    [
      "a bad token",
      { Authorization: "Bearer abc.def.ghi" },
      'Bearer realm="healthcare-platform", error="invalid_token"',
    ],
  ])("answers %s with a 401 problem and a Bearer challenge", async (_, headers, challenge) => {
    const response = await app.request("/whoami", { headers });
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(response.headers.get("www-authenticate")).toBe(challenge);
  });
});

describe("a token not in JWS compact serialization", () => {
  // Neither answer reaches a route: a PUT on /documents, which takes POST, is a 405 once the token is taken.
  const app = testPlatform({} as Database);
  const put = (token: string) =>
    app.request("/documents", { method: "PUT", headers: { Authorization: `Bearer ${token}` } });
  const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  /** The signature with `=` padding to a multiple of four characters, as base64 writes it (HS256's 43 take one). */
  const padded = (part: string) => `${part}${"=".repeat((4 - (part.length % 4)) % 4)}`;
  /** The same signature with the bits past its last byte set otherwise: it decodes to the same bytes. */
  const otherTrailingBits = (part: string) =>
    part.slice(0, -1) + BASE64URL[BASE64URL.indexOf(part.at(-1) as string) ^ 1];
  type Respelling = [string, (header: string, payload: string, signature: string) => string];
  /** Spellings jose verifies as the token itself: only the check of the compact serialization refuses them. */
  const joseTakes: Respelling[] = [
    [
      "= padding on its signature",
      (header, payload, signature) => `${header}.${payload}.${padded(signature)}`,
    ],
    [
      "bits past its signature's last byte",
      (header, payload, signature) => `${header}.${payload}.${otherTrailingBits(signature)}`,
    ],
  ];
  const respellings: Respelling[] = [
    ...joseTakes,
    ["a fourth part", (header, payload, signature) => `${header}.${payload}.${signature}.`],
    ["an empty signature", (header, payload) => `${header}.${payload}.`],
    ["base64's + and / in a part", (header, payload, signature) => `${header}.${payload}.${signature}+/`],
  ];
  const token = () => issueToken(testSecret, { role: "admin", sub });

  it("is not what the API issues: three base64url parts without padding, which it takes", async () => {
    const issued = await token();
    expect(issued).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect((await put(issued)).status).toBe(405);
  });

  it.each(joseTakes)(
    "with %s is what jose verifies, which the compact form's check refuses",
    async (_, respell) => {
      const [header = "", payload = "", signature = ""] = (await token()).split(".");
      const { payload: claims } = await jwtVerify(respell(header, payload, signature), testSecret);
      expect(claims.sub).toBe(sub);
    },
  );

  it.each(respellings)(
    "with %s is refused before it is verified, as any malformed token is",
    async (_, respell) => {
      const [header = "", payload = "", signature = ""] = (await token()).split(".");
      const respelt = respell(header, payload, signature);
      expect(respelt).not.toBe(`${header}.${payload}.${signature}`);
      await expect(testVerifier(respelt)).rejects.toThrow(
        new InvalidToken("the token is malformed or its signature does not verify"),
      );
      const response = await put(respelt);
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toBe("application/problem+json");
      expect(response.headers.get("www-authenticate")).toBe(
        'Bearer realm="healthcare-platform", error="invalid_token"',
      );
      expect(await response.json()).toEqual({
        type: "about:blank",
        title: "Unauthorized",
        status: 401,
        detail: "The bearer token was refused: the token is malformed or its signature does not verify.",
        instance: "/documents",
      });
    },
  );

  it("with = padding inside it is no bearer token at all (RFC 6750 allows = at the end only): a 401 too", async () => {
    const [header = "", payload = "", signature = ""] = (await token()).split(".");
    const response = await put(`${header}=.${payload}.${signature}`);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({
      detail: "The Authorization header must be `Bearer <token>`.",
    });
  });
});

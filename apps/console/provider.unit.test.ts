// The console's identity provider, as the platform reads it at start-up from the issuer's discovery document
// (a provider of test/oidcProvider.ts, on loopback): its endpoints taken, and every document that would leave
// the console signing in elsewhere, without PKCE or over plain http in production refused, naming the variable.
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError } from "../../config/env.ts";
import { createLogger } from "../../observability/logger.ts";
import { silentLog } from "../../test/fixtures.ts";
import { startTestProvider, type TestProvider } from "../../test/oidcProvider.ts";
import { consoleSignInOf, REREAD_AFTER_MS, startConsoleSignIn } from "./provider.ts";

let provider: TestProvider | undefined;
afterEach(async () => {
  await provider?.close();
  provider = undefined;
});

async function signInWith(discovery?: (document: Record<string, unknown>) => unknown, nodeEnv?: string) {
  provider = await startTestProvider({ discovery });
  return consoleSignInOf({
    CONSOLE_OIDC_ISSUER: provider.issuer,
    CONSOLE_OIDC_CLIENT_ID: "audit-console",
    NODE_ENV: nodeEnv,
  });
}

async function refusal(discovery?: (document: Record<string, unknown>) => unknown, nodeEnv?: string) {
  const error = await signInWith(discovery, nodeEnv).catch((thrown: unknown) => thrown);
  expect(error).toBeInstanceOf(ConfigError);
  const [problem] = (error as ConfigError).problems;
  expect(problem).toMatch(/^CONSOLE_OIDC_ISSUER="http:\/\/127\.0\.0\.1:\d+": /);
  return problem;
}

describe("the console's identity provider", () => {
  it("is none without CONSOLE_OIDC_ISSUER", async () => {
    expect(await consoleSignInOf({})).toBeUndefined();
  });

  it("is read from the issuer's discovery document: its authorization and token endpoints, and its keys", async () => {
    const signIn = await signInWith();
    const issuer = provider?.issuer;
    expect(signIn).toEqual({
      issuer,
      clientId: "audit-console",
      authorizationEndpoint: `${issuer}/authorize`,
      tokenEndpoint: `${issuer}/token`,
      jwksUri: `${issuer}/jwks`,
    });
  });

  it("is refused without its keys (jwks_uri): the console could check no ID token", async () => {
    expect(await refusal(({ jwks_uri: _, ...document }) => document)).toContain("no URL in jwks_uri");
    expect(
      await refusal((document) => ({ ...document, jwks_uri: "http://keys.example.org/jwks" }), "production"),
    ).toContain("its jwks_uri http://keys.example.org/jwks must be an https URL when NODE_ENV=production");
  });

  it("is refused when the document names another issuer", async () => {
    expect(await refusal((document) => ({ ...document, issuer: "https://elsewhere.example.org" }))).toContain(
      'names the issuer "https://elsewhere.example.org", not this one',
    );
  });

  it("is refused when the provider does not take S256 code challenges", async () => {
    expect(
      await refusal((document) => ({ ...document, code_challenge_methods_supported: ["plain"] })),
    ).toContain("no S256 in code_challenge_methods_supported");
  });

  it("is refused without a token endpoint, or with one that is no URL", async () => {
    expect(await refusal(({ token_endpoint: _, ...document }) => document)).toContain(
      "no URL in token_endpoint",
    );
    expect(await refusal((document) => ({ ...document, authorization_endpoint: "/authorize" }))).toContain(
      "no URL in authorization_endpoint",
    );
  });

  it("is refused when the document cannot be read", async () => {
    expect(await refusal(() => "not an object")).toContain("could not be read: not a JSON object");
    provider = await startTestProvider();
    const closed = provider.issuer;
    await provider.close();
    provider = undefined;
    await expect(
      consoleSignInOf({ CONSOLE_OIDC_ISSUER: closed, CONSOLE_OIDC_CLIENT_ID: "audit-console" }),
    ).rejects.toThrow(/CONSOLE_OIDC_ISSUER=.*discovery document .* could not be read/);
  });

  it("is refused in production over plain http to another machine, its endpoints as well as the issuer", async () => {
    // Loopback is this machine (a sidecar): the test provider on 127.0.0.1 passes in production.
    expect((await signInWith(undefined, "production"))?.tokenEndpoint).toMatch(/^http:\/\/127\.0\.0\.1/);
    expect(
      await refusal(
        (document) => ({ ...document, token_endpoint: "http://idp.example.org/token" }),
        "production",
      ),
    ).toContain(
      "its token_endpoint http://idp.example.org/token must be an https URL when NODE_ENV=production",
    );
    await expect(
      consoleSignInOf({
        CONSOLE_OIDC_ISSUER: "http://idp.example.org",
        CONSOLE_OIDC_CLIENT_ID: "audit-console",
        NODE_ENV: "production",
      }),
    ).rejects.toThrow(/CONSOLE_OIDC_ISSUER="http:\/\/idp\.example\.org": must be an https URL/);
  });
});

describe("the console's identity provider, unreachable", () => {
  const issuerOf = (started: TestProvider) => ({
    CONSOLE_OIDC_ISSUER: started.issuer,
    CONSOLE_OIDC_CLIENT_ID: "audit-console",
  });
  afterEach(() => vi.useRealTimers());

  it("does not stop the start: sign-in is unavailable, and the document is read again later", async () => {
    provider = await startTestProvider();
    provider.setDown(true);
    const lines: string[] = [];
    const log = createLogger({ destination: { write: (line: string) => lines.push(line) } });
    vi.useFakeTimers({ toFake: ["Date"] });
    const signIn = await startConsoleSignIn(issuerOf(provider), log);
    expect(signIn?.current()).toBe("unavailable");
    expect(lines.join("")).toContain("could not be read: HTTP 503");

    provider.setDown(false);
    // Not read again before REREAD_AFTER_MS: a page served meanwhile does not wait for the provider.
    expect(signIn?.current()).toBe("unavailable");
    vi.advanceTimersByTime(REREAD_AFTER_MS);
    expect(signIn?.current()).toBe("unavailable"); // the read starts now, in the background
    await vi.waitFor(() => expect(signIn?.current()).not.toBe("unavailable"));
    expect(signIn?.current()).toMatchObject({ tokenEndpoint: `${provider.issuer}/token` });
  });

  it("still stops the start when the document says something wrong, or is no document", async () => {
    provider = await startTestProvider({
      discovery: (document) => ({ ...document, issuer: "https://x.example" }),
    });
    await expect(startConsoleSignIn(issuerOf(provider), silentLog)).rejects.toBeInstanceOf(ConfigError);
    await provider.close();
    provider = await startTestProvider({ discovery: () => "not an object" });
    await expect(startConsoleSignIn(issuerOf(provider), silentLog)).rejects.toBeInstanceOf(ConfigError);
  });

  it("is none without CONSOLE_OIDC_ISSUER", async () => {
    expect(await startConsoleSignIn({}, silentLog)).toBeUndefined();
  });
});

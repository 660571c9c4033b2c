// The console's identity provider, as the platform reads it at start-up from the issuer's discovery document
// (a provider of test/oidcProvider.ts, on loopback): its endpoints taken, and every document that would leave
// the console signing in elsewhere, without PKCE or over plain http in production refused, naming the variable.
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../config/env.ts";
import { startTestProvider, type TestProvider } from "../../test/oidcProvider.ts";
import { consoleSignInOf } from "./provider.ts";

let provider: TestProvider | undefined;
afterEach(() => provider?.close());

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

  it("is read from the issuer's discovery document: its authorization and token endpoints", async () => {
    const signIn = await signInWith();
    const issuer = provider?.issuer;
    expect(signIn).toEqual({
      clientId: "audit-console",
      authorizationEndpoint: `${issuer}/authorize`,
      tokenEndpoint: `${issuer}/token`,
    });
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

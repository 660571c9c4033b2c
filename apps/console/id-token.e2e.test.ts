// The console's check of the ID token its identity provider issues, in a real browser (headless Chromium)
// against the real platform and Postgres, at a provider the test runs (test/oidcProvider.ts): a sign-in sends a
// nonce of its own, and signs the auditor in only when the ID token is signed by a key of the provider's
// (jwks_uri), names the configured issuer, is for this console (aud, and azp with several audiences), has not
// expired and carries that nonce. Any other, or one whose keys cannot be read, is refused on the page, saying
// why, and signs nobody in: the access token is never used, so the API records no access of the auditor's, and
// neither token is shown.
import { decodeJwt } from "jose";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../db/client.ts";
import { eventTypesNaming } from "../../test/auditHistory.ts";
import { type AppInBrowser, openInBrowser, seriousAccessibilityViolations } from "../../test/browser.ts";
import { silentLog, testDatabase } from "../../test/fixtures.ts";
import {
  consoleSettingsFor,
  type IdTokenKind,
  startTestProvider,
  type TestProvider,
} from "../../test/oidcProvider.ts";
import { caller, testPlatform } from "../../test/tokens.ts";
import { startConsoleSignIn } from "./provider.ts";

let db: Database;
let identityProvider: TestProvider;
let session: AppInBrowser;
let base: string;
let page: Page;

beforeAll(async () => {
  db = testDatabase();
  identityProvider = await startTestProvider();
  const consoleSignIn = await startConsoleSignIn(consoleSettingsFor(identityProvider), silentLog);
  const app = testPlatform(db, { consoleSignIn });
  session = await openInBrowser(app);
  ({ base, page } = session);
  identityProvider.redirectUri = `${base}/console`;
}, 120_000);

afterAll(async () => {
  await session?.close();
  await identityProvider?.close();
  await db?.$client.end();
});

/**
 * A new auditor signs in at the provider from a fresh console, the provider issuing an ID token of this kind
 * with their access token; the exchange is done when this returns (its ID token is `idToken`).
 */
async function signInAtProvider(kind: IdTokenKind) {
  const auditor = await caller("auditor");
  identityProvider.signInAs(auditor.token);
  identityProvider.issueNextIdToken(kind);
  const issued = identityProvider.idTokens.length;
  await page.goto(`${base}/console`);
  await page.evaluate("sessionStorage.clear()");
  await page.locator("#provider-button").click();
  await expect.poll(() => identityProvider.idTokens.length).toBe(issued + 1);
  return { auditor, idToken: identityProvider.idTokens.at(-1) as string };
}

/** The sign-in with an ID token of this kind is refused for this reason, and nobody is signed in. */
async function expectRefused(kind: IdTokenKind, reason: string) {
  const { auditor, idToken } = await signInAtProvider(kind);
  await page.locator("#sign-in-error").waitFor();
  expect(await page.locator("#sign-in-error").textContent()).toBe(
    `The identity provider's ID token was refused, and nobody is signed in: ${reason}.`,
  );
  expect(await page.locator("#view-sign-in").isVisible()).toBe(true);
  expect(await page.locator("#nav").isHidden()).toBe(true);
  // Nothing kept: no token, and the sign-in's verifier and nonce forgotten.
  expect(await page.evaluate("sessionStorage.length")).toBe(0);
  const shown = await page.content();
  // (An answer without an ID token leaves "" in its place: only the tokens issued are looked for.)
  for (const issued of [auditor.token, idToken].filter((token) => token !== "")) {
    expect(shown).not.toContain(issued);
  }
  // The access token never reached the API: it recorded neither an access nor a refusal of this auditor's.
  expect(await eventTypesNaming(db, auditor.userId)).toEqual([]);
}

describe("the console's sign-in at an OpenID Connect provider", () => {
  it("sends a nonce of its own with each sign-in, and signs the auditor in when the ID token checks out", async () => {
    const nonces: string[] = [];
    for (let signIn = 0; signIn < 2; signIn++) {
      const { auditor, idToken } = await signInAtProvider("valid");
      await page.locator("#view-search").waitFor();
      expect(await page.evaluate("sessionStorage.getItem('auditConsole.token')")).toBe(auditor.token);
      expect(await page.evaluate("sessionStorage.getItem('auditConsole.pendingSignIn')")).toBeNull();
      // The nonce went to the authorization endpoint and came back in the ID token, which was checked.
      const nonce = identityProvider.authorizations.at(-1)?.get("nonce") ?? "";
      expect(nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(decodeJwt(idToken).nonce).toBe(nonce);
      nonces.push(nonce);
      // Signed in: the sign-in's query reached the API with the access token, which recorded the access.
      expect(await eventTypesNaming(db, auditor.userId)).toEqual(["audit.data.accessed"]);
      await page.click("#sign-out");
    }
    expect(nonces[0]).not.toBe(nonces[1]);
  });

  it("signs the auditor in with an ID token of several audiences whose authorized party (azp) is the console", async () => {
    const { auditor, idToken } = await signInAtProvider("several-audiences");
    await page.locator("#view-search").waitFor();
    expect(decodeJwt(idToken)).toMatchObject({ aud: [identityProvider.clientId, "audit-api"] });
    expect(await eventTypesNaming(db, auditor.userId)).toEqual(["audit.data.accessed"]);
    await page.click("#sign-out");
  });

  it("refuses an ID token whose nonce is not the one this sign-in sent", async () => {
    await expectRefused(
      "wrong-nonce",
      "its nonce is not the one this sign-in sent: it was issued for another sign-in",
    );
    const violations = await seriousAccessibilityViolations(page);
    expect(violations, JSON.stringify(violations, null, 2)).toEqual([]);
  });

  it("refuses an ID token issued to another client (aud)", async () => {
    await expectRefused(
      "wrong-audience",
      "it was issued to another client: its audience (aud) does not name this console's client id",
    );
  });

  it("refuses an ID token of several audiences that names no authorized party (azp)", async () => {
    await expectRefused(
      "several-audiences-without-azp",
      "it names several audiences and no authorized party (azp): it may have been issued to another client",
    );
  });

  it("refuses an ID token of another issuer (iss)", async () => {
    await expectRefused(
      "wrong-issuer",
      "its issuer (iss) is not the configured one, the console's identity provider",
    );
  });

  it("refuses a token answer that carries no ID token: the sign-in asked for one", async () => {
    await expectRefused("none", "the provider sent none, though the sign-in asked for one (scope openid)");
  });

  it("refuses an expired ID token (exp)", async () => {
    await expectRefused("expired", "it has expired (exp)");
  });

  it("refuses an ID token whose signature does not verify against the provider's keys (jwks_uri)", async () => {
    await expectRefused(
      "bad-signature",
      "its signature does not verify against the identity provider's keys (jwks_uri)",
    );
  });

  it("refuses a right ID token when the provider's keys cannot be read: unchecked is not trusted", async () => {
    identityProvider.setKeysDown(true);
    try {
      await expectRefused("valid", "the identity provider's keys (jwks_uri) could not be read");
    } finally {
      identityProvider.setKeysDown(false);
    }
  });
});

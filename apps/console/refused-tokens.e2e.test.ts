// The console given a token the API refuses, in a real browser (headless Chromium) against the real platform and
// Postgres, the platform checking tokens against an identity provider's keys (JWT_JWKS_URL, a key set served
// here): a token signed by a key whose key id (kid) the set does not hold, as one signed before a rotation
// that retired its key, and malformed ones, as a token pasted cut short. Each is answered 401 with the one
// refusal every bad signature gets, which names neither the key id nor the token; the console signs nobody
// in, keeps nothing and shows no data, saying the token was not accepted; one refused mid-session signs the
// auditor out and clears what was shown. The API records nothing of a refused token: it names nobody.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import type { Page, Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../db/client.ts";
import { exampleEvent } from "../../events/examples.ts";
import { append, eventTypesNaming, historyReadable } from "../../test/auditHistory.ts";
import { type AppInBrowser, openInBrowser, seriousAccessibilityViolations } from "../../test/browser.ts";
import { testDatabase } from "../../test/fixtures.ts";
import { testPlatform } from "../../test/tokens.ts";
import { createTokenVerifier } from "../http/auth.ts";

/** The key id the identity provider's key set names its one key by. */
const KEY_ID = "provider-key-2026";
/** The key id of a key the set does not hold: a retired one's. */
const RETIRED_KEY_ID = "provider-key-2019";
/** What the API answers for every token whose signature it cannot check, whatever the reason. */
const REFUSAL = "The bearer token was refused: the token is malformed or its signature does not verify.";

let db: Database;
let keySet: Server;
let sign: (kid: string, claims: { sub: string }) => Promise<string>;
let session: AppInBrowser;
let base: string;
let page: Page;

beforeAll(async () => {
  db = testDatabase();
  const providerKey = await generateKeyPair("ES256");
  const retiredKey = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(providerKey.publicKey)), kid: KEY_ID, alg: "ES256", use: "sig" };
  keySet = createServer((_, response) => {
    response.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => keySet.listen(0, "127.0.0.1", resolve));
  const keySetUrl = new URL(`http://127.0.0.1:${(keySet.address() as AddressInfo).port}/jwks.json`);
  sign = (kid, { sub }) =>
    new SignJWT({ role: "auditor", session_id: randomUUID() })
      .setProtectedHeader({ alg: "ES256", kid, typ: "JWT" })
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(kid === KEY_ID ? providerKey.privateKey : retiredKey.privateKey);

  const verifyToken = createTokenVerifier({ kind: "jwks", url: keySetUrl });
  const app = testPlatform(db, { verifyToken });
  session = await openInBrowser(app);
  ({ base, page } = session);
}, 120_000);

afterAll(async () => {
  await session?.close();
  await new Promise((resolve) => keySet?.close(resolve));
  await db?.$client.end();
});

/** The next answer of the API's history query, as the browser received it. */
const historyAnswer = () =>
  page.waitForResponse((response) => new URL(response.url()).pathname === "/audit/events");

/** The API's refusal, as the browser received it: a 401 that says no more than any bad signature's. */
async function expectRefusal(answer: Response, token: string, kid?: string) {
  expect(answer.status()).toBe(401);
  expect(answer.headers()["www-authenticate"]).toBe(
    'Bearer realm="healthcare-platform", error="invalid_token"',
  );
  const body = await answer.text();
  expect(JSON.parse(body)).toMatchObject({ status: 401, title: "Unauthorized", detail: REFUSAL });
  expect(body).not.toContain(token);
  expect(body).not.toMatch(/\bkid\b|key set|jwks/i);
  if (kid) expect(body).not.toContain(kid);
}

/** Pastes the token at the sign-in; returns the API's answer to the sign-in's query. */
async function pasteToken(token: string): Promise<Response> {
  await page.goto(`${base}/console`);
  await page.evaluate("sessionStorage.clear()");
  await page.locator("#token").waitFor();
  await page.fill("#token", token);
  const answer = historyAnswer();
  await page.click("#sign-in-form button[type=submit]");
  return answer;
}

/** Nobody is signed in, nothing is kept, nothing of the history is shown, and the page says why. */
async function expectSignedOut(token: string) {
  await page.locator("#sign-in-error").waitFor();
  expect(await page.locator("#sign-in-error").textContent()).toBe(`The token was not accepted: ${REFUSAL}`);
  expect(await page.locator("#view-sign-in").isVisible()).toBe(true);
  expect(await page.locator("#nav").isHidden()).toBe(true);
  expect(await page.locator("#view-search").isHidden()).toBe(true);
  expect(await page.locator("#search-results").textContent()).toBe("");
  expect(await page.evaluate("sessionStorage.length")).toBe(0);
  expect(await page.inputValue("#token")).toBe(token.trim());
}

describe("the console given a token the API refuses", () => {
  it("signs an auditor in with a token signed by the identity provider's key (the key set works)", async () => {
    const auditor = randomUUID();
    const token = await sign(KEY_ID, { sub: auditor });
    const answer = await pasteToken(token);
    expect(answer.status()).toBe(200);
    await page.locator("#view-search").waitFor();
    expect(await eventTypesNaming(db, auditor)).toEqual(["audit.data.accessed"]);
    await page.click("#sign-out");
  });

  it("refuses a token signed by a key whose key id (kid) the identity provider's key set does not hold", async () => {
    const auditor = randomUUID();
    const token = await sign(RETIRED_KEY_ID, { sub: auditor });
    const answer = await pasteToken(token);
    await expectRefusal(answer, token, RETIRED_KEY_ID);
    await expectSignedOut(token);
    expect(await page.content()).not.toContain(RETIRED_KEY_ID);
    expect(await eventTypesNaming(db, auditor)).toEqual([]);
    const violations = await seriousAccessibilityViolations(page);
    expect(violations, JSON.stringify(violations, null, 2)).toEqual([]);
  });

  it("refuses malformed tokens: not a JWS at all, cut short, padded, or with a fourth part", async () => {
    const auditor = randomUUID();
    const signed = await sign(KEY_ID, { sub: auditor });
    const malformed = {
      "not a JWS": "not-a-token",
      "cut short in its signature": signed.slice(0, -7),
      "cut short after its payload": signed.slice(0, signed.lastIndexOf(".") + 1),
      "with its signature padded": `${signed}==`,
      "with a fourth part": `${signed}.${signed.split(".")[1]}`,
    };
    for (const [shape, token] of Object.entries(malformed)) {
      const answer = await pasteToken(token);
      await expectRefusal(answer, token);
      await expectSignedOut(token).catch((error: Error) => {
        throw new Error(`a token ${shape}: ${error.message}`);
      });
    }
    // None of them reached a check that names anybody.
    expect(await eventTypesNaming(db, auditor)).toEqual([]);
  });

  it("signs the auditor out and clears the results when the API refuses their token mid-session", async () => {
    const patientId = randomUUID();
    await append(db, [exampleEvent("audit.data.accessed", { patientId })]);
    await historyReadable(db, { column: "patient_id", value: patientId });
    const auditor = randomUUID();
    expect((await pasteToken(await sign(KEY_ID, { sub: auditor }))).status()).toBe(200);
    await page.locator("#view-search").waitFor();
    await page.fill("#f-patientId", patientId);
    await page.press("#f-patientId", "Enter");
    await page.locator("#search-results tbody tr", { hasText: "audit.data.accessed" }).waitFor();

    // The token the tab holds is now one the key set no longer vouches for: its key was retired.
    const retired = await sign(RETIRED_KEY_ID, { sub: auditor });
    await page.evaluate(`sessionStorage.setItem("auditConsole.token", ${JSON.stringify(retired)})`);
    const answer = historyAnswer();
    await page.click("#search-form button[type=submit]");
    await expectRefusal(await answer, retired, RETIRED_KEY_ID);
    await page.locator("#view-sign-in").waitFor();
    expect(await page.locator("#status").textContent()).toBe(`Signed out: ${REFUSAL}`);
    expect(await page.locator("#nav").isHidden()).toBe(true);
    expect(await page.locator("#search-results").textContent()).toBe("");
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    expect(await page.content()).not.toContain(patientId);
    // Recorded: the sign-in's query and the search that showed the patient, and nothing of the refusal.
    expect(await eventTypesNaming(db, auditor)).toEqual(["audit.data.accessed", "audit.data.accessed"]);
  });
});

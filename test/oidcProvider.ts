// A small OpenID Connect provider for tests, on node:http: its discovery document, an authorization endpoint
// that sends the browser back with a code only for an S256 code challenge, and a token endpoint that issues a
// token only for that code with its verifier, redirect URI and client id, as a real provider checks them, and
// with it an ID token (RS256, its key in the provider's JSON Web Key Set) carrying the authorization's nonce.
// The next ID token can be made wrong on purpose, one way at a time, for the tests of what the console refuses.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

/**
 * The ID token the next exchange issues: a right one (`valid`; `several-audiences`, with the client as `azp`), or
 * one wrong in one way: issued by another issuer, for another audience, for several without `azp` naming the
 * client, expired, carrying another nonce than the authorization's, or signed by another key under the same
 * key id (so that the key is found, and the signature fails); or none at all.
 */
export type IdTokenKind =
  | "valid"
  | "several-audiences"
  | "wrong-issuer"
  | "wrong-audience"
  | "several-audiences-without-azp"
  | "expired"
  | "wrong-nonce"
  | "bad-signature"
  | "none";

/** The key id of the provider's one signing key, as its JSON Web Key Set names it. */
const KEY_ID = "test-signing-key";

export interface TestProvider {
  issuer: string;
  clientId: string;
  /** The one redirect URI registered for the client; set once the console's address is known. */
  redirectUri: string;
  /** The authorization requests received, as their query strings. */
  authorizations: URLSearchParams[];
  /** The token requests received, as their form bodies, whatever was answered. */
  tokenRequests: URLSearchParams[];
  /** The ID tokens issued, in order: "" for an answer that carried none. */
  idTokens: string[];
  /** The access token the next sign-in is issued (one of test/tokens.ts's callers' tokens). */
  signInAs(token: string): void;
  /** The ID token the next exchange issues with its access token (then `valid` again). */
  issueNextIdToken(kind: IdTokenKind): void;
  /** The next authorization request is answered with this error (RFC 6749, section 4.1.2.1), not a code. */
  refuseNext(error: string, description: string): void;
  /** While down, the discovery document is answered 503 Service Unavailable. */
  setDown(down: boolean): void;
  /** While down, the JSON Web Key Set is answered 503 Service Unavailable. */
  setKeysDown(down: boolean): void;
  close(): Promise<void>;
}

interface Grant {
  challenge: string;
  redirectUri: string;
  token: string;
  /** The authorization request's nonce, which the ID token carries back (OpenID Connect Core, section 3.1.2.1). */
  nonce: string | null;
}

const base64url = (bytes: Buffer) => bytes.toString("base64url");

/** The console's settings that name this provider, as `npm start` reads them from the environment. */
export const consoleSettingsFor = (provider: TestProvider) => ({
  CONSOLE_OIDC_ISSUER: provider.issuer,
  CONSOLE_OIDC_CLIENT_ID: provider.clientId,
});

/**
 * Starts the provider on loopback. `discovery` may rewrite its discovery document (a test of what the platform
 * refuses in one).
 */
export async function startTestProvider(
  options: { clientId?: string; discovery?: (document: Record<string, unknown>) => unknown } = {},
): Promise<TestProvider> {
  const grants = new Map<string, Grant>();
  let token: string | undefined;
  let refusal: { error: string; description: string } | undefined;
  let down = false;
  let keysDown = false;
  let nextIdToken: IdTokenKind = "valid";
  const signingKey = await generateKeyPair("RS256");
  // Same algorithm, same key id, another key: what a forger would sign with.
  const forgersKey = await generateKeyPair("RS256");
  const publicKey = { ...(await exportJWK(signingKey.publicKey)), kid: KEY_ID, alg: "RS256", use: "sig" };

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", provider.issuer);
    if (url.pathname === "/.well-known/openid-configuration") return discover(response);
    if (url.pathname === "/jwks") {
      return keysDown
        ? json(response, 503, { error: "temporarily_unavailable" })
        : json(response, 200, { keys: [publicKey] });
    }
    if (url.pathname === "/authorize") return authorize(url.searchParams, response);
    if (url.pathname === "/token" && request.method === "POST") return exchange(request, response);
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function discover(response: ServerResponse) {
    if (down) return json(response, 503, { error: "temporarily_unavailable" });
    const document = {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      response_types_supported: ["code"],
      subject_types_supported: ["public"],
      id_token_signing_alg_values_supported: ["RS256"],
      code_challenge_methods_supported: ["S256"],
    };
    json(response, 200, options.discovery ? options.discovery(document) : document);
  }

  function authorize(query: URLSearchParams, response: ServerResponse) {
    provider.authorizations.push(query);
    // A client or redirect URI not registered: shown here, never sent back (RFC 6749, section 4.1.2.1).
    if (query.get("client_id") !== provider.clientId || query.get("redirect_uri") !== provider.redirectUri) {
      response.writeHead(400, { "Content-Type": "text/plain" }).end("unknown client or redirect_uri");
      return;
    }
    const back = new URL(provider.redirectUri);
    const state = query.get("state");
    if (state !== null) back.searchParams.set("state", state);
    const challenge = query.get("code_challenge");
    if (
      refusal ||
      query.get("response_type") !== "code" ||
      !challenge ||
      query.get("code_challenge_method") !== "S256"
    ) {
      back.searchParams.set("error", refusal?.error ?? "invalid_request");
      if (refusal) back.searchParams.set("error_description", refusal.description);
      refusal = undefined;
    } else {
      const code = base64url(randomBytes(24));
      grants.set(code, {
        challenge,
        redirectUri: provider.redirectUri,
        token: token ?? "",
        nonce: query.get("nonce"),
      });
      back.searchParams.set("code", code);
    }
    response.writeHead(302, { Location: back.href }).end();
  }

  async function exchange(request: IncomingMessage, response: ServerResponse) {
    let body = "";
    for await (const chunk of request) body += chunk;
    const form = new URLSearchParams(body);
    provider.tokenRequests.push(form);
    const code = form.get("code") ?? "";
    const grant = grants.get(code);
    grants.delete(code);
    const verifier = form.get("code_verifier") ?? "";
    const valid =
      grant !== undefined &&
      request.headers["content-type"]?.startsWith("application/x-www-form-urlencoded") &&
      form.get("grant_type") === "authorization_code" &&
      form.get("client_id") === provider.clientId &&
      form.get("redirect_uri") === grant.redirectUri &&
      base64url(createHash("sha256").update(verifier).digest()) === grant.challenge;
    if (!valid) return json(response, 400, { error: "invalid_grant" });
    const kind = nextIdToken;
    nextIdToken = "valid";
    const answer = { access_token: grant.token, token_type: "Bearer", expires_in: 3600 };
    if (kind === "none") {
      provider.idTokens.push("");
      return json(response, 200, answer);
    }
    const id_token = await idToken(kind, grant.nonce);
    provider.idTokens.push(id_token);
    json(response, 200, { ...answer, id_token });
  }

  /** An ID token for the client (OpenID Connect Core, section 2), or one wrong in the way `kind` says. */
  function idToken(kind: IdTokenKind, nonce: string | null): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const audience =
      {
        "wrong-audience": "another-client",
        "several-audiences": [provider.clientId, "audit-api"],
        "several-audiences-without-azp": [provider.clientId, "audit-api"],
      }[kind as string] ?? provider.clientId;
    const claims: Record<string, unknown> = { auth_time: now - 5 };
    if (kind === "several-audiences") claims.azp = provider.clientId;
    const sentNonce = kind === "wrong-nonce" ? base64url(randomBytes(16)) : nonce;
    if (sentNonce !== null) claims.nonce = sentNonce;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: KEY_ID, typ: "JWT" })
      .setIssuer(kind === "wrong-issuer" ? "https://another-issuer.example.org" : issuer)
      .setSubject("auditor-at-the-provider")
      .setAudience(audience)
      .setIssuedAt(kind === "expired" ? now - 3600 : now)
      .setExpirationTime(kind === "expired" ? now - 600 : now + 300)
      .sign(kind === "bad-signature" ? forgersKey.privateKey : signingKey.privateKey);
  }

  const provider: TestProvider = {
    issuer,
    clientId: options.clientId ?? "audit-console",
    redirectUri: "",
    authorizations: [],
    tokenRequests: [],
    idTokens: [],
    issueNextIdToken: (kind) => {
      nextIdToken = kind;
    },
    signInAs: (next) => {
      token = next;
    },
    refuseNext: (error, description) => {
      refusal = { error, description };
    },
    setDown: (next) => {
      down = next;
    },
    setKeysDown: (next) => {
      keysDown = next;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return provider;
}

/** A JSON answer any origin may read: the console calls the token endpoint and reads the keys from its own origin. */
function json(response: ServerResponse, status: number, body: unknown) {
  response
    .writeHead(status, {
      "Content-Type": "application/json",
      "Cache-Control": "no-store",
      "Access-Control-Allow-Origin": "*",
    })
    .end(JSON.stringify(body));
}

// A small OpenID Connect provider for tests, on node:http: its discovery document, an authorization endpoint
// that sends the browser back with a code only for an S256 code challenge, and a token endpoint that issues a
// token only for that code with its verifier, redirect URI and client id, as a real provider checks them.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface TestProvider {
  issuer: string;
  clientId: string;
  /** The one redirect URI registered for the client; set once the console's address is known. */
  redirectUri: string;
  /** The authorization requests received, as their query strings. */
  authorizations: URLSearchParams[];
  /** The token requests received, as their form bodies, whatever was answered. */
  tokenRequests: URLSearchParams[];
  /** The access token the next sign-in is issued (one of test/tokens.ts's callers' tokens). */
  signInAs(token: string): void;
  /** The next authorization request is answered with this error (RFC 6749, section 4.1.2.1), not a code. */
  refuseNext(error: string, description: string): void;
  /** While down, the discovery document is answered 503 Service Unavailable. */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

interface Grant {
  challenge: string;
  redirectUri: string;
  token: string;
}

const base64url = (bytes: Buffer) => bytes.toString("base64url");

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

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", provider.issuer);
    if (url.pathname === "/.well-known/openid-configuration") return discover(response);
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
      response_types_supported: ["code"],
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
      grants.set(code, { challenge, redirectUri: provider.redirectUri, token: token ?? "" });
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
    json(response, 200, { access_token: grant.token, token_type: "Bearer", expires_in: 3600 });
  }

  const provider: TestProvider = {
    issuer,
    clientId: options.clientId ?? "audit-console",
    redirectUri: "",
    authorizations: [],
    tokenRequests: [],
    signInAs: (next) => {
      token = next;
    },
    refuseNext: (error, description) => {
      refusal = { error, description };
    },
    setDown: (next) => {
      down = next;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return provider;
}

/** A JSON answer any origin may read: the console calls the token endpoint from its own origin. */
function json(response: ServerResponse, status: number, body: unknown) {
  response
    .writeHead(status, {
      "Content-Type": "application/json",
      "Cache-Control": "no-store",
      "Access-Control-Allow-Origin": "*",
    })
    .end(JSON.stringify(body));
}

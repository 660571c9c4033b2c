// The identity provider the auditors' console signs in with: an OpenID Connect issuer, whose discovery document
// the platform reads once at start-up (not the browser: the page's Content-Security-Policy must name the token
// endpoint's origin before the page runs, and a document read here is checked once, with errors an operator
// sees). The console is a public client: the authorization code flow with PKCE (RFC 7636, S256), no secret.
import { ConfigError, type Env } from "../../config/env.ts";

/** What the console needs of the provider, from CONSOLE_OIDC_* and the issuer's discovery document. */
export interface ConsoleSignIn {
  clientId: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
}

const DISCOVERY_TIMEOUT_MS = 10_000;

/**
 * The console's sign-in, when CONSOLE_OIDC_ISSUER is set (loadEnv has checked it comes with its client id). A
 * document that cannot be read, or that does not describe this issuer's code flow with S256, is a ConfigError:
 * the start stops, rather than serve a console whose sign-in fails later or runs weaker than asked.
 */
export async function consoleSignInOf(
  env: Pick<Env, "CONSOLE_OIDC_ISSUER" | "CONSOLE_OIDC_CLIENT_ID" | "NODE_ENV">,
): Promise<ConsoleSignIn | undefined> {
  const issuer = env.CONSOLE_OIDC_ISSUER;
  const clientId = env.CONSOLE_OIDC_CLIENT_ID;
  if (issuer === undefined || clientId === undefined) return undefined;
  const refuse = (problem: string) =>
    new ConfigError([`CONSOLE_OIDC_ISSUER=${JSON.stringify(issuer)}: ${problem}`]);
  const production = env.NODE_ENV === "production";
  const issuerProblem = transportProblem(issuer, production);
  if (issuerProblem) throw refuse(issuerProblem);

  // The issuer's path, with the well-known suffix after it (OpenID Connect Discovery 1.0, section 4).
  const address = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  const document = await readDiscovery(address).catch((error: Error) => {
    throw refuse(`its discovery document ${address} could not be read: ${error.message}`);
  });
  // Another issuer's document (a typo, a proxy's page) would send auditors to sign in elsewhere (section 4.3).
  if (document.issuer !== issuer) {
    throw refuse(`its discovery document names the issuer ${JSON.stringify(document.issuer)}, not this one`);
  }
  const methods = document.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes("S256")) {
    throw refuse(
      "its discovery document lists no S256 in code_challenge_methods_supported: the console needs PKCE",
    );
  }
  const endpoint = (field: "authorization_endpoint" | "token_endpoint") => {
    const value = document[field];
    if (typeof value !== "string" || !URL.canParse(value)) {
      throw refuse(`its discovery document has no URL in ${field}`);
    }
    const problem = transportProblem(value, production);
    if (problem) throw refuse(`its ${field} ${value} ${problem}`);
    return value;
  };
  return {
    clientId,
    authorizationEndpoint: endpoint("authorization_endpoint"),
    tokenEndpoint: endpoint("token_endpoint"),
  };
}

async function readDiscovery(address: string): Promise<Record<string, unknown>> {
  const response = await fetch(address, {
    headers: { Accept: "application/json" },
    redirect: "error",
    signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const document: unknown = await response.json().catch(() => undefined);
  if (document === null || typeof document !== "object" || Array.isArray(document)) {
    throw new Error("not a JSON object");
  }
  return document as Record<string, unknown>;
}

/**
 * Why a provider address may not be used, if it may not. In production it must be https (or this machine's
 * loopback, a sidecar's), as JWT_JWKS_URL must: over plain http the code, its verifier and the token cross the
 * network readable, and a discovery document read that way could be swapped for an attacker's endpoints.
 */
function transportProblem(value: string, production: boolean): string | undefined {
  const url = new URL(value);
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must be an http(s) URL";
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (production && url.protocol !== "https:" && !loopback) {
    return "must be an https URL when NODE_ENV=production (plain http only to this machine's loopback)";
  }
  return undefined;
}

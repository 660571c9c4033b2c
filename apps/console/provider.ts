// The identity provider the auditors' console signs in with: an OpenID Connect issuer, whose discovery document
// the platform reads at start-up (not the browser: the page's Content-Security-Policy must name the token
// endpoint's origin before the page runs, and a document read here is checked once, with errors an operator
// sees). The console is a public client: the authorization code flow with PKCE (RFC 7636, S256), no secret.
// The page checks the ID token the provider issues against the issuer and the keys (jwks_uri) named here.
//
// A document that says something wrong stops the start: a configuration mistake. A provider that cannot be
// reached does not: the platform's API, relay and consumers do not wait for the console's sign-in page, which
// says the provider is unavailable (tokens can still be pasted) and reads the document again meanwhile.
import { ConfigError, type Env } from "../../config/env.ts";
import type { Logger } from "../../observability/logger.ts";

/** What the console needs of the provider, from CONSOLE_OIDC_* and the issuer's discovery document. */
export interface ConsoleSignIn {
  /** The issuer an ID token must name in `iss`: CONSOLE_OIDC_ISSUER, which its discovery document names too. */
  issuer: string;
  clientId: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  /** The provider's signing keys (its JSON Web Key Set), which an ID token's signature must verify against. */
  jwksUri: string;
}

const DISCOVERY_TIMEOUT_MS = 10_000;
/** How long after a failed read of the discovery document the next page asks for it again. */
export const REREAD_AFTER_MS = 30_000;

/** The discovery document could not be read: the provider is down, or unreachable from here. */
export class ProviderUnreachable extends Error {
  override name = "ProviderUnreachable";
}

/** The console's provider as the platform knows it now: its endpoints, or unavailable until read. */
export interface ConsoleSignInSource {
  current(): ConsoleSignIn | "unavailable";
}

/** A provider known already (tests, and a document read before). */
export const knownSignIn = (signIn: ConsoleSignIn): ConsoleSignInSource => ({ current: () => signIn });

/**
 * The console's sign-in when CONSOLE_OIDC_ISSUER is set, else undefined. Its document is read now: one that
 * says something wrong is a ConfigError, which stops the start; one that cannot be read is logged, and read
 * again in the background when a page asks for the provider, at most every REREAD_AFTER_MS, until it is.
 */
export async function startConsoleSignIn(
  env: Pick<Env, "CONSOLE_OIDC_ISSUER" | "CONSOLE_OIDC_CLIENT_ID" | "NODE_ENV">,
  log: Logger,
): Promise<ConsoleSignInSource | undefined> {
  let known: ConsoleSignIn | undefined;
  let failedAt = Number.NEGATIVE_INFINITY;
  let reading = false;
  const unread = (error: unknown) => {
    failedAt = Date.now();
    const problem = error instanceof ConfigError ? error.problems.join("; ") : (error as Error).message;
    log.warn({ problem }, "the console's identity provider is unavailable: tokens can only be pasted");
  };
  try {
    known = await consoleSignInOf(env);
    if (known === undefined) return undefined;
  } catch (error) {
    if (!(error instanceof ProviderUnreachable)) throw error;
    unread(error);
  }
  return {
    current() {
      if (known) return known;
      if (!reading && Date.now() - failedAt >= REREAD_AFTER_MS) {
        reading = true;
        consoleSignInOf(env)
          .then((signIn) => {
            known = signIn;
            log.info("the console's identity provider is read: sign-in through it is available");
          }, unread)
          .finally(() => {
            reading = false;
          });
      }
      return known ?? "unavailable";
    },
  };
}

/**
 * The console's sign-in, when CONSOLE_OIDC_ISSUER is set (loadEnv has checked it comes with its client id). A
 * document that cannot be read, or that does not describe this issuer's code flow with S256 and its signing keys,
 * is a ConfigError: the start stops, rather than serve a console whose sign-in fails later or runs weaker than
 * asked.
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
    const problem = `CONSOLE_OIDC_ISSUER=${JSON.stringify(issuer)}: its discovery document ${address} could not be read: ${error.message}`;
    throw error instanceof ProviderUnreachable ? new ProviderUnreachable(problem) : refuse(problem);
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
  const endpoint = (field: "authorization_endpoint" | "token_endpoint" | "jwks_uri") => {
    const value = document[field];
    if (typeof value !== "string" || !URL.canParse(value)) {
      throw refuse(`its discovery document has no URL in ${field}`);
    }
    const problem = transportProblem(value, production);
    if (problem) throw refuse(`its ${field} ${value} ${problem}`);
    return value;
  };
  return {
    issuer,
    clientId,
    authorizationEndpoint: endpoint("authorization_endpoint"),
    tokenEndpoint: endpoint("token_endpoint"),
    // Required of an OpenID provider (Discovery 1.0, section 3): without its keys no ID token can be checked,
    // and the console asks for one (scope openid).
    jwksUri: endpoint("jwks_uri"),
  };
}

/**
 * The discovery document. The provider not answering, or answering 5xx or 429, is ProviderUnreachable (it may
 * answer later); any other answer that is no JSON object is wrong, and so is a 4xx: this address is not the
 * issuer's.
 */
async function readDiscovery(address: string): Promise<Record<string, unknown>> {
  const response = await fetch(address, {
    headers: { Accept: "application/json" },
    redirect: "error",
    signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS),
  }).catch((error: Error) => {
    throw new ProviderUnreachable(error.cause instanceof Error ? error.cause.message : error.message);
  });
  if (response.status >= 500 || response.status === 429) {
    throw new ProviderUnreachable(`HTTP ${response.status}`);
  }
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

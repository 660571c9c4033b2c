// Authentication: `Authorization: Bearer <JWT>`, verified with jose, becomes the request's principal and
// fills the user and session of every event the request writes. What a principal may do is decided per
// route and per record (access.ts, patientAccess.ts), not here.

import type { MiddlewareHandler } from "hono";
import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyOptions, jwtVerify } from "jose";
import { z } from "zod";
import { DEFAULT_JWT_MAX_LIFETIME_HOURS, type Env } from "../../config/env.ts";
import { ambiguousMember } from "./ambiguousJson.ts";
import { ANY_CASE_UUID, anyCaseUuid } from "./ids.ts";
import { HttpProblem } from "./problem.ts";
import type { RequestContextEnv } from "./requestContext.ts";
import type { SigningKeys } from "./signingKeys.ts";

export const roles = ["patient", "provider", "admin", "auditor", "service"] as const;
export type Role = (typeof roles)[number];

export interface Principal {
  /** The token's subject: the id of the user (or of the calling service's account). */
  userId: string;
  role: Role;
  /** The identity provider's session, when the token names one. */
  sessionId: string | null;
}

export type AuthEnv = { Variables: { principal: Principal } };

/** Turns a token into a principal; throws InvalidToken (→ 401) or TokenCheckUnavailable (→ 503). */
export type TokenVerifier = (token: string) => Promise<Principal>;

export class InvalidToken extends Error {
  override name = "InvalidToken";
}

/** The keys could not be fetched (JWKS down): the token may be fine, so this is not the client's fault. */
export class TokenCheckUnavailable extends Error {
  override name = "TokenCheckUnavailable";
}

/** The Retry-After of the 503 a token that cannot be checked is answered with. */
const TOKEN_CHECK_RETRY_AFTER_SECONDS = 5;

const isRole = (value: unknown): value is Role => roles.includes(value as Role);

/**
 * The claims the platform reads. The role is the `role` claim when it names a platform role (tokens of
 * `npm run token`, most issuers), else `app_metadata.role`: Supabase puts its own database role
 * ("authenticated") in `role` and leaves `app_metadata`, which only the server can write, to applications.
 * The session is Supabase's `session_id` or OpenID Connect's `sid`; one that is not a UUID is left out,
 * as event metadata holds UUIDs only.
 */
const claimsSchema = z
  .object({
    // In lower case whatever the issuer wrote: the subject is the user's id in every event and record.
    sub: z.stringFormat("uuid", ANY_CASE_UUID, { error: "the subject (sub) must be a UUID" }).toLowerCase(),
    role: z.unknown().optional(),
    // Of any shape: read only when `role` names no platform role, and then only a member `role` of an object.
    app_metadata: z.unknown().optional(),
    session_id: z.unknown().optional(),
    sid: z.unknown().optional(),
  })
  .transform((claims, context): Principal => {
    const role = [claims.role, memberRole(claims.app_metadata)].find(isRole);
    if (role === undefined) {
      context.addIssue({ code: "custom", message: `the token names no platform role (${roles.join(", ")})` });
      return z.NEVER;
    }
    const session = [claims.session_id, claims.sid].find((value) => anyCaseUuid.safeParse(value).success);
    return { userId: claims.sub, role, sessionId: (session as string | undefined)?.toLowerCase() ?? null };
  });

function memberRole(metadata: unknown): unknown {
  return typeof metadata === "object" && metadata !== null && Object.hasOwn(metadata, "role")
    ? (metadata as { role: unknown }).role
    : undefined;
}

/** jose's codes for tokens that are malformed, forged, expired or not yet valid: the client's to fix. */
const REFUSED_TOKEN_CODES = new Set<string>([
  errors.JWTExpired.code,
  errors.JWTClaimValidationFailed.code,
  errors.JWTInvalid.code,
  errors.JWSInvalid.code,
  errors.JWSSignatureVerificationFailed.code,
  errors.JOSEAlgNotAllowed.code,
  errors.JOSENotSupported.code,
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
]);

// Asymmetric algorithms only from a JWKS: accepting HS256 there would let anyone sign with the public key.
const JWKS_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
const CLOCK_TOLERANCE_S = 5;
const VERIFY_OPTIONS: JWTVerifyOptions = {
  requiredClaims: ["sub", "exp"],
  clockTolerance: CLOCK_TOLERANCE_S,
};

/** Claims every token must carry when configured (JWT_ISSUER, JWT_AUDIENCE): a token minted for another
 * service or by another issuer sharing the keys is refused. */
export interface ExpectedClaims {
  issuer?: string | undefined;
  audience?: string[] | undefined;
  /** The longest a token may live, from its iat (or from now, without one) to its exp; DEFAULT_JWT_MAX_LIFETIME_HOURS. */
  maxLifetimeHours?: number | undefined;
}

/** What JWT_ISSUER, JWT_AUDIENCE and JWT_MAX_LIFETIME_HOURS ask of every token. */
export const expectedClaimsOf = (
  env: Pick<Env, "JWT_ISSUER" | "JWT_AUDIENCE" | "JWT_MAX_LIFETIME_HOURS">,
): ExpectedClaims => ({
  issuer: env.JWT_ISSUER,
  audience: env.JWT_AUDIENCE,
  maxLifetimeHours: env.JWT_MAX_LIFETIME_HOURS,
});

export function createTokenVerifier(keys: SigningKeys, expected: ExpectedClaims = {}): TokenVerifier {
  const options: JWTVerifyOptions = {
    ...VERIFY_OPTIONS,
    ...(expected.issuer ? { issuer: expected.issuer } : {}),
    ...(expected.audience?.length ? { audience: expected.audience } : {}),
  };
  const verify =
    keys.kind === "secret"
      ? (token: string) => jwtVerify(token, keys.secret, { ...options, algorithms: ["HS256"] })
      : (() => {
          const keySet = createRemoteJWKSet(keys.url, { cacheMaxAge: JWKS_MAX_AGE_MS });
          return (token: string) => jwtVerify(token, keySet, { ...options, algorithms: JWKS_ALGORITHMS });
        })();
  const maxLifetimeHours = expected.maxLifetimeHours ?? DEFAULT_JWT_MAX_LIFETIME_HOURS;
  const verified = new VerifiedTokens();
  return async (token) => {
    if (!isCompactJws(token)) throw new InvalidToken(MALFORMED_TOKEN);
    const known = verified.principal(token, Date.now());
    if (known) return known;
    let payload: JWTPayload;
    try {
      ({ payload } = await verify(token));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== undefined && REFUSED_TOKEN_CODES.has(code)) throw new InvalidToken(tokenProblem(error));
      throw new TokenCheckUnavailable("the signing keys could not be obtained", { cause: error });
    }
    refuseAmbiguousParts(token);
    checkLifetime(payload, maxLifetimeHours, Date.now() / 1000);
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new InvalidToken(claims.error.issues.map((issue) => issue.message).join("; "));
    verified.add(token, claims.data, payload.exp as number, Date.now());
    return claims.data;
  };
}

/**
 * A JWS in compact serialization (RFC 7515 §7.1): three base64url parts without padding, each exactly as an
 * encoder writes it. jose decodes leniently: a signature with `=` padding, a blank inside, or bits set past its
 * last byte decodes to the same bytes and verifies, so that one signed token had many spellings, each a token of
 * its own to the verified tokens below and to anything else that tells tokens apart by their text.
 */
function isCompactJws(token: string): boolean {
  const parts = token.split(".");
  return (
    parts.length === 3 &&
    parts.every((part) => part !== "" && Buffer.from(part, "base64url").toString("base64url") === part)
  );
}

/**
 * A header or claims set naming a member twice (`{"role":"patient","role":"admin"}`) is refused: jose, reading
 * it with JSON.parse, takes the last, where a gateway or a log reading the same token may take the first (RFC 7519
 * §4 lets a parser refuse it), as a request body naming a member twice is refused. A number more precise than a
 * 64-bit float (an `exp` read as another second than written) is refused alike.
 */
function refuseAmbiguousParts(token: string): void {
  const [header, claims] = token.split(".");
  for (const [part, name] of [
    [header, "header"],
    [claims, "claims"],
  ] as const) {
    const text = Buffer.from(part as string, "base64url").toString("utf8");
    // Refused as a request body's is (RFC 8259 §8.1): jose's decoder drops it, where another reader of the token
    // may refuse it or keep it as part of the first token. (jose refuses bytes that are not UTF-8 itself.)
    if (text.startsWith("\uFEFF"))
      throw new InvalidToken(`a byte order mark comes before the token's ${name}`);
    const ambiguity = ambiguousMember(text);
    if (ambiguity) {
      const member = ambiguity.path.join(".");
      throw new InvalidToken(`the token's ${name}${member ? ` member ${member}` : ""} ${ambiguity.message}`);
    }
  }
}

/**
 * jose has checked exp (and iat's type, when there is one); it reads iat only to bound a token's age. A token
 * issued in the future is refused (a forged claim, or an issuer whose clock is wrong), and so is one that lives
 * longer than the platform accepts: from its iat to its exp, or without an iat from now to its exp.
 */
function checkLifetime(payload: JWTPayload, maxLifetimeHours: number, nowS: number): void {
  const { iat, exp } = payload as { iat?: number; exp: number };
  if (iat !== undefined && iat > nowS + CLOCK_TOLERANCE_S) {
    throw new InvalidToken("the token's iat claim is in the future");
  }
  const lifetimeS = exp - (iat ?? nowS);
  if (lifetimeS > maxLifetimeHours * 3600 + CLOCK_TOLERANCE_S) {
    throw new InvalidToken(
      `the token lives ${Math.ceil(lifetimeS / 3600)} h from iat to exp, over the ${maxLifetimeHours} h a token may live`,
    );
  }
}

/**
 * How long a verified token is taken on trust (never past its expiry), and how old the fetched key set may grow
 * before jose fetches it again (its own default is ten minutes): a key withdrawn from the JWKS is refused within
 * a minute, and a token verified with it just before is trusted a minute more at most.
 */
const VERIFIED_TOKEN_TRUST_MS = 60_000;
const JWKS_MAX_AGE_MS = 60_000;
const VERIFIED_TOKENS_KEPT = 10_000;

/**
 * Tokens this process has verified, by their exact text (signature included, so no other token can match one),
 * with the principal made of each. A client sends the same token with every request until it expires, and each
 * check of a signature is a WebCrypto job: in a `POST /patients` profile the HS256 check alone was 5% of an API
 * process's CPU. A token is re-checked in full once its trust runs out; refused tokens are never kept.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, { principal: Principal; trustedUntilMs: number }>();

  principal(token: string, nowMs: number): Principal | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (nowMs < entry.trustedUntilMs) return entry.principal;
    this.entries.delete(token);
    return undefined;
  }

  /** `expiresAt`: the token's exp claim (seconds), which jose has checked is there. */
  add(token: string, principal: Principal, expiresAt: number, nowMs: number): void {
    if (this.entries.size >= VERIFIED_TOKENS_KEPT) {
      // The oldest first: Map keeps insertion order.
      this.entries.delete(this.entries.keys().next().value as string);
    }
    const trustedUntilMs = Math.min(nowMs + VERIFIED_TOKEN_TRUST_MS, (expiresAt + CLOCK_TOLERANCE_S) * 1000);
    this.entries.set(token, { principal, trustedUntilMs });
  }
}

const MALFORMED_TOKEN = "the token is malformed or its signature does not verify";

function tokenProblem(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "the token has expired";
  if (error instanceof errors.JWTClaimValidationFailed)
    return `the token's ${error.claim} claim is not valid`;
  return MALFORMED_TOKEN;
}

const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/** The token of an `Authorization: Bearer <token>` header; undefined for no header or another scheme. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[1];
}

/**
 * Requires a valid bearer token on every route registered after it, sets the principal, and puts its user and
 * session into the request's event metadata. Refusals are 401 problems with a `WWW-Authenticate` challenge
 * (RFC 6750); they name no actor, so they are not compliance violations.
 */
export function authenticate(verify: TokenVerifier): MiddlewareHandler<RequestContextEnv & AuthEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization");
    const token = bearerToken(header);
    if (token === undefined) {
      c.header("WWW-Authenticate", 'Bearer realm="healthcare-platform"');
      throw new HttpProblem(
        401,
        "Unauthorized",
        header === undefined
          ? "Send a token as `Authorization: Bearer <token>`."
          : "The Authorization header must be `Bearer <token>`.",
      );
    }
    let principal: Principal;
    try {
      principal = await verify(token);
    } catch (error) {
      if (error instanceof InvalidToken) {
        c.header("WWW-Authenticate", 'Bearer realm="healthcare-platform", error="invalid_token"');
        throw new HttpProblem(401, "Unauthorized", `The bearer token was refused: ${error.message}.`);
      }
      if (error instanceof TokenCheckUnavailable) {
        c.header("Retry-After", String(TOKEN_CHECK_RETRY_AFTER_SECONDS));
        throw new HttpProblem(
          503,
          "Service Unavailable",
          "Tokens cannot be checked right now; retry shortly.",
        );
      }
      throw error;
    }
    c.set("principal", principal);
    const context = c.get("requestContext");
    c.set("requestContext", {
      ...context,
      metadata: { ...context.metadata, userId: principal.userId, sessionId: principal.sessionId },
      actingPatient: principal.role === "patient",
    });
    await next();
  };
}

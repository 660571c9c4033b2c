// Signs HS256 tokens as an identity provider would, for `npm run token` and the tests. Production tokens
// come from the real identity provider (JWT_JWKS_URL) or whoever shares JWT_SECRET.
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { Role } from "./auth.ts";

export interface TokenClaims {
  role: Role;
  /** The user id; a new one when not given. */
  sub?: string;
  /** `null` for a token without a session claim. */
  sessionId?: string | null;
  /** Lifetime, as jose reads it: `"12h"`, `"15m"`, or seconds since the epoch. */
  expiresIn?: string | number;
  /** `iss`, as the verifier expects it (JWT_ISSUER); a development issuer when not given. */
  issuer?: string | undefined;
  /** `aud`, as the verifier expects it (JWT_AUDIENCE); none when not given. */
  audience?: string[] | undefined;
}

export async function issueToken(secret: Uint8Array, claims: TokenClaims): Promise<string> {
  const sessionId = claims.sessionId === undefined ? randomUUID() : claims.sessionId;
  const token = new SignJWT({ role: claims.role, ...(sessionId === null ? {} : { session_id: sessionId }) })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub ?? randomUUID())
    .setIssuer(claims.issuer ?? "healthcare-platform-development")
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? "12h");
  if (claims.audience?.length) token.setAudience(claims.audience);
  return token.sign(secret);
}

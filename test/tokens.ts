// Bearer tokens for tests: signed with a test secret that the platforms built here verify, one caller per
// role and user, so that tests can act as a patient, a provider, an admin, an auditor or a service.
import { randomUUID } from "node:crypto";
import { Registry } from "prom-client";
import { createTokenVerifier, type Principal, type Role } from "../apps/http/auth.ts";
import { issueToken } from "../apps/http/issueToken.ts";
import { createPlatformApp, type PlatformDeps } from "../apps/platform.ts";
import type { Database } from "../db/client.ts";
import type { Admin } from "../kafka/client.ts";
import type { Logger } from "../observability/logger.ts";
import { silentLog, testMasterKeys } from "./fixtures.ts";

export const testSecret = new TextEncoder().encode("a-test-secret-that-is-long-enough-for-hs256");
export const testVerifier = createTokenVerifier({ kind: "secret", secret: testSecret, origin: "JWT_SECRET" });

export interface Caller extends Principal {
  token: string;
  /** The Authorization header, merged with `extra`. */
  headers(extra?: Record<string, string>): Record<string, string>;
}

export async function caller(role: Role, userId: string = randomUUID()): Promise<Caller> {
  const sessionId = randomUUID();
  const token = await issueToken(testSecret, { role, sub: userId, sessionId });
  return {
    role,
    userId,
    sessionId,
    token,
    headers: (extra = {}) => ({ Authorization: `Bearer ${token}`, ...extra }),
  };
}

/**
 * The platform app, in-process, with the test verifier (or another: one checking an identity provider's keys)
 * and the test run's master keys, unless given.
 */
export function testPlatform(
  db: Database,
  options: { log?: Logger; kafkaAdmin?: Admin } & Pick<
    PlatformDeps,
    | "checkpointKeys"
    | "concurrentVerifications"
    | "consoleSignIn"
    | "tracestateKeys"
    | "kafkaBrokers"
    | "kafkaTls"
  > &
    Partial<Pick<PlatformDeps, "masterKeys" | "verifyToken">> = {},
) {
  return createPlatformApp({
    ...options,
    db,
    kafkaAdmin: options.kafkaAdmin ?? ({ describeCluster: async () => ({}) } as unknown as Admin),
    log: options.log ?? silentLog,
    registry: new Registry(),
    verifyToken: options.verifyToken ?? testVerifier,
    masterKeys: options.masterKeys ?? testMasterKeys,
  });
}

/**
 * An admin's JSON request to the platform under a correlation id of its own, by which a test finds what the
 * request wrote (every outbox row carries it).
 */
export async function adminRequest(
  app: { request(path: string, init: RequestInit): Response | Promise<Response> },
  method: string,
  path: string,
  body: unknown,
): Promise<{ response: Response; correlationId: string }> {
  const admin = await caller("admin");
  const correlationId = randomUUID();
  const response = await app.request(path, {
    method,
    headers: admin.headers({ "Content-Type": "application/json", "X-Correlation-Id": correlationId }),
    body: JSON.stringify(body),
  });
  return { response, correlationId };
}

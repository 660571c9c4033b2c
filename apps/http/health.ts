// Liveness and readiness: live answers while the process runs; ready only when its dependencies answer.
// Anyone may ask; only an operator (an admin or service token) is told why a dependency is down, since a
// driver's message can name hosts, users and addresses.
import { Hono } from "hono";
import { bearerToken, type Role, type TokenVerifier } from "./auth.ts";

/** A named dependency check; it throws (or times out) when the dependency is not usable. */
export type ReadinessCheck = { name: string; check: () => Promise<unknown> };

const CHECK_TIMEOUT_MS = 2_000;

/** The roles that run the platform, and so may read its dependencies' errors. */
const OPERATOR_ROLES: ReadonlySet<Role> = new Set(["admin", "service"]);

/** `verifyToken`: how an operator's token is checked; without it, no caller is told more than up or down. */
export function healthRoutes(checks: ReadinessCheck[], verifyToken?: TokenVerifier): Hono {
  return new Hono()
    .get("/health/live", (c) => c.json({ status: "ok" }))
    .get("/health/ready", async (c) => {
      const [results, detailed] = await Promise.all([
        Promise.all(checks.map(runCheck)),
        isOperator(bearerToken(c.req.header("authorization")), verifyToken),
      ]);
      const ready = results.every(([, result]) => result.status === "up");
      const shown = detailed ? results : results.map(([name, { status }]) => [name, { status }] as const);
      return c.json(
        { status: ready ? "ready" : "unavailable", checks: Object.fromEntries(shown) },
        ready ? 200 : 503,
      );
    });
}

async function runCheck({ name, check }: ReadinessCheck) {
  try {
    await withTimeout(check(), CHECK_TIMEOUT_MS);
    return [name, { status: "up" as const }] as const;
  } catch (error) {
    return [name, { status: "down" as const, error: (error as Error).message }] as const;
  }
}

/** A missing, refused or unverifiable token is no error here: the caller just gets the short answer. */
async function isOperator(token: string | undefined, verifyToken: TokenVerifier | undefined) {
  if (token === undefined || verifyToken === undefined) return false;
  try {
    return OPERATOR_ROLES.has((await verifyToken(token)).role);
  } catch {
    return false;
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

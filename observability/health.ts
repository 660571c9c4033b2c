// Liveness and readiness: live answers while the process runs; ready only when its dependencies answer.
// Anyone may ask; only an operator (an admin or service token) is told why a dependency is down, since a
// driver's message can name hosts, users and addresses.
import { Hono } from "hono";

/** A named dependency check; it throws (or times out) when the dependency is not usable. */
export type ReadinessCheck = { name: string; check: () => Promise<unknown> };

const CHECK_TIMEOUT_MS = 2_000;

/**
 * Whether the request's `Authorization` header is an operator's (the HTTP frame checks tokens); it must not
 * throw: a missing or refused token just gets the short answer.
 */
export type OperatorCheck = (authorization: string | undefined) => Promise<boolean>;

/** `isOperator`: who is told why a dependency is down; without it, no caller is told more than up or down. */
export function healthRoutes(checks: ReadinessCheck[], isOperator?: OperatorCheck): Hono {
  return (
    new Hono()
      // The pid tells which process answered when several serve one port (API_PROCESSES).
      .get("/health/live", (c) => c.json({ status: "ok", pid: process.pid }))
      .get("/health/ready", async (c) => {
        const [results, detailed] = await Promise.all([
          Promise.all(checks.map(runCheck)),
          isOperator?.(c.req.header("authorization")) ?? false,
        ]);
        const ready = results.every(([, result]) => result.status === "up");
        const shown = detailed ? results : results.map(([name, { status }]) => [name, { status }] as const);
        return c.json(
          { status: ready ? "ready" : "unavailable", checks: Object.fromEntries(shown) },
          ready ? 200 : 503,
        );
      })
  );
}

async function runCheck({ name, check }: ReadinessCheck) {
  try {
    await withTimeout(check(), CHECK_TIMEOUT_MS);
    return [name, { status: "up" as const }] as const;
  } catch (error) {
    return [name, { status: "down" as const, error: (error as Error).message }] as const;
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

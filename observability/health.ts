// Liveness and readiness: live answers while the process runs; ready only when its dependencies answer.
import { Hono } from "hono";

/** A named dependency check; it throws (or times out) when the dependency is not usable. */
export type ReadinessCheck = { name: string; check: () => Promise<unknown> };

const CHECK_TIMEOUT_MS = 2_000;

export function healthRoutes(checks: ReadinessCheck[]): Hono {
  return new Hono()
    .get("/health/live", (c) => c.json({ status: "ok" }))
    .get("/health/ready", async (c) => {
      const results = await Promise.all(
        checks.map(async ({ name, check }) => {
          try {
            await withTimeout(check(), CHECK_TIMEOUT_MS);
            return [name, { status: "up" }] as const;
          } catch (error) {
            return [name, { status: "down", error: (error as Error).message }] as const;
          }
        }),
      );
      const ready = results.every(([, result]) => result.status === "up");
      return c.json(
        { status: ready ? "ready" : "unavailable", checks: Object.fromEntries(results) },
        ready ? 200 : 503,
      );
    });
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

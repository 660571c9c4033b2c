// Liveness and readiness: live answers while the process runs; ready only when its dependencies answer.
// Anyone may ask; only an operator (an admin or service token) is told why a dependency is down, since a
// driver's message can name hosts, users and addresses.
import { Hono } from "hono";

/** A named dependency check; it throws (or times out) when the dependency is not usable. */
export type ReadinessCheck = { name: string; check: () => Promise<unknown> };

const CHECK_TIMEOUT_MS = 2_000;

/**
 * How long a check's settled answer is given again. /health/ready is public: without this, every probe would run
 * every check (Debezium's opens a Postgres connection and a Kafka admin connection, and asks Connect twice), and a
 * burst of probes would take the connections the writes need.
 */
export const CHECK_REUSE_MS = 1_000;

/**
 * Whether the request's `Authorization` header is an operator's (the HTTP frame checks tokens); it must not
 * throw: a missing or refused token just gets the short answer.
 */
export type OperatorCheck = (authorization: string | undefined) => Promise<boolean>;

/** `isOperator`: who is told why a dependency is down; without it, no caller is told more than up or down. */
export function healthRoutes(checks: ReadinessCheck[], isOperator?: OperatorCheck): Hono {
  const shared = checks.map(sharedCheck);
  return (
    new Hono()
      // The pid tells which process answered when several serve one port (API_PROCESSES).
      .get("/health/live", (c) => c.json({ status: "ok", pid: process.pid }))
      .get("/health/ready", async (c) => {
        const [results, detailed] = await Promise.all([
          Promise.all(shared.map(runCheck)),
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

/**
 * The check, run at most once at a time: callers while it runs share that run, and callers within CHECK_REUSE_MS
 * of its end get its answer (a failure too: a dependency that is down is no reason to ask it more often).
 */
export function sharedCheck({ name, check }: ReadinessCheck): ReadinessCheck {
  let answer: Promise<unknown> | undefined;
  return {
    name,
    check: () => {
      if (answer) return answer;
      const run = (async () => check())();
      const forget = () => {
        setTimeout(() => {
          if (answer === run) answer = undefined;
        }, CHECK_REUSE_MS).unref();
      };
      run.then(forget, forget);
      answer = run;
      return run;
    },
  };
}

async function runCheck({ name, check }: ReadinessCheck) {
  try {
    await withTimeout(check(), CHECK_TIMEOUT_MS);
    return [name, { status: "up" as const }] as const;
  } catch (error) {
    return [name, { status: "down" as const, error: (error as Error).message }] as const;
  }
}

/**
 * `work`, or an error once `ms` have passed without its answer. A loop held up (a burst of requests, a long
 * synchronous task) runs expired timers before the I/O that arrived meanwhile: the timer gives that I/O its turn
 * (setImmediate runs after the loop's I/O callbacks) before it calls the dependency silent, so an answer that
 * came in time and waited behind the loop counts.
 */
async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let turn: NodeJS.Immediate | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      turn = setImmediate(() => reject(new Error(`no answer within ${ms} ms`)));
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    clearImmediate(turn);
  }
}

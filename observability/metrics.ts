// Prometheus metrics over HTTP: request counts and durations per route, plus the process's own registry.
import { Hono, type MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { collectDefaultMetrics, Histogram, Registry } from "prom-client";

export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

export function httpMetrics(registry: Registry): MiddlewareHandler {
  const duration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP requests by method, route and status",
    labelNames: ["method", "route", "status"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  return async (c, next) => {
    const end = duration.startTimer();
    await next();
    // The route pattern, not the raw path, keeps ids (and so label cardinality) out of the metric.
    end({ method: c.req.method, route: routePath(c), status: String(c.res.status) });
  };
}

/** Where /metrics gets its text: the registry's own, or the whole service's when it spans processes. */
export type MetricsSource = () => Promise<string>;

/**
 * Scrapes that come while one is gathered share its text: /metrics is public, and a gathering asks Postgres,
 * Kafka (the consumers' lag) and, with API_PROCESSES, every process, so a burst of scrapes must not multiply that.
 */
export function metricsRoute(registry: Registry, source: MetricsSource = () => registry.metrics()): Hono {
  let gathering: Promise<string> | undefined;
  const gather = () => {
    gathering ??= source().finally(() => {
      gathering = undefined;
    });
    return gathering;
  };
  return new Hono().get("/metrics", async (c) =>
    c.body(await gather(), 200, { "Content-Type": registry.contentType }),
  );
}

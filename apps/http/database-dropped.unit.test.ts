// A connection to Postgres that fails under a request (Postgres restarted, the connection cut) is the database
// unreachable, not a fault of the platform: a 503 with Retry-After, whichever of pg's errors says it. A query sent
// on a connection that had already failed was a 500 ("unhandled error"), seen in a chaos run's Postgres restart.
import { Hono } from "hono";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { Database } from "../../db/client.ts";
import { createLogger } from "../../observability/logger.ts";
import { parseMasterKeys } from "../../phi/masterKeys.ts";
import { createServiceFrame } from "./service.ts";

describe("the service frame, when pg reports the connection failed", () => {
  it.each([
    "Connection terminated unexpectedly",
    "Client has encountered a connection error and is not queryable",
    "timeout exceeded when trying to connect",
  ])("answers %j with the declared 503 and Retry-After", async (message) => {
    const app = createServiceFrame({
      title: "test",
      log: createLogger({ level: "silent" }),
      registry: new Registry(),
      readiness: [],
      verifyToken: async () => {
        throw new Error("no tokens here");
      },
      db: {} as Database,
      masterKeys: parseMasterKeys(`unit:${Buffer.alloc(32).toString("base64")}`),
      publicRoutes: new Hono().post("/write", () => {
        throw new Error(message);
      }),
    });
    const response = await app.request("/write", { method: "POST" });
    expect(response.status).toBe(503);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await response.json()).toMatchObject({ status: 503, title: "Service Unavailable" });
  });
});

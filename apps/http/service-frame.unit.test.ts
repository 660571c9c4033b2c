// What the service frame answers for an error thrown from any route: an event too large for Kafka is a 413
// problem naming the limit; a connection to Postgres that failed under the request (Postgres restarted, the
// connection cut) is the database unreachable, a 503 with Retry-After, whichever of pg's errors says it. A query
// sent on a connection that had already failed was a 500 ("unhandled error"), seen in a chaos run's Postgres
// restart.
import { Hono } from "hono";
import { Registry } from "prom-client";
import { describe, expect, it, vi } from "vitest";
import type { Database } from "../../db/client.ts";
import { EventTooLarge, MAX_EVENT_BYTES } from "../../events/record.ts";
import { createLogger } from "../../observability/logger.ts";
import { parseMasterKeys } from "../../phi/masterKeys.ts";
import { createServiceFrame } from "./service.ts";

function testFrame(publicRoutes: Hono) {
  return createServiceFrame({
    title: "test",
    log: createLogger({ level: "silent" }),
    registry: new Registry(),
    readiness: [],
    verifyToken: async () => {
      throw new Error("no tokens here");
    },
    db: {} as Database,
    masterKeys: parseMasterKeys(`unit:${Buffer.alloc(32).toString("base64")}`),
    publicRoutes,
  });
}

/** The answer of a frame whose one route throws `error`. */
function answerTo(error: Error): Promise<Response> {
  const app = testFrame(
    new Hono().post("/write", () => {
      throw error;
    }),
  );
  return Promise.resolve(app.request("/write", { method: "POST" }));
}

describe("the service frame", () => {
  it("answers EventTooLarge with a 413 problem naming the event type and the limit", async () => {
    const response = await answerTo(new EventTooLarge("patient.updated", 600_000));
    expect(response.status).toBe(413);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    const problem = (await response.json()) as { title: string; detail: string };
    expect(problem.title).toBe("Content Too Large");
    expect(problem.detail).toContain("patient.updated");
    expect(problem.detail).toContain(`${MAX_EVENT_BYTES} bytes`);
  });

  it.each([
    "Connection terminated unexpectedly",
    "Client has encountered a connection error and is not queryable",
    "timeout exceeded when trying to connect",
  ])("answers pg's %j with the declared 503 and Retry-After", async (message) => {
    const response = await answerTo(new Error(message));
    expect(response.status).toBe(503);
    expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await response.json()).toMatchObject({ status: 503, title: "Service Unavailable" });
  });

  // /openapi.json is public, and building it took 70-90 ms of CPU: a burst of requests would have multiplied it.
  it("builds /openapi.json once, at its first request, and answers every request with it", async () => {
    const app = testFrame(new Hono().get("/ping", (c) => c.text("pong")));
    const build = vi.spyOn(app, "getOpenAPI31Document");
    const answers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const response = await app.request("/openapi.json");
        expect(response.headers.get("content-type")).toBe("application/json");
        return response.text();
      }),
    );
    expect(build).toHaveBeenCalledTimes(1);
    expect(new Set(answers).size).toBe(1);
    expect(JSON.parse(answers[0] as string)).toMatchObject({ openapi: "3.1.0", info: { title: "test" } });
  });
});

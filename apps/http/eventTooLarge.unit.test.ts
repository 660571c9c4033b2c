// An event too large for Kafka, thrown from any route's write, is answered as a 413 problem naming the limit.
import { Hono } from "hono";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { Database } from "../../db/client.ts";
import { EventTooLarge, MAX_EVENT_BYTES } from "../../events/record.ts";
import { createLogger } from "../../observability/logger.ts";
import { parseMasterKeys } from "../../phi/masterKeys.ts";
import { createServiceFrame } from "./service.ts";

describe("the service frame", () => {
  it("answers EventTooLarge with a 413 problem naming the event type and the limit", async () => {
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
        throw new EventTooLarge("patient.updated", 600_000);
      }),
    });
    const response = await app.request("/write", { method: "POST" });
    expect(response.status).toBe(413);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    const problem = (await response.json()) as { title: string; detail: string };
    expect(problem.title).toBe("Content Too Large");
    expect(problem.detail).toContain("patient.updated");
    expect(problem.detail).toContain(`${MAX_EVENT_BYTES} bytes`);
  });
});

// /metrics is public: scrapes that arrive together must share one gathering (which asks Postgres, Kafka and
// every API process), and a later scrape must get a new one.
import { setTimeout as sleep } from "node:timers/promises";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { metricsRoute } from "./metrics.ts";

describe("/metrics under a burst of scrapes", () => {
  it("gathers once for the scrapes that come while it gathers, and afresh after", async () => {
    let gatherings = 0;
    const app = metricsRoute(new Registry(), async () => {
      gatherings++;
      await sleep(50);
      return `gathering ${gatherings}\n`;
    });
    const scrape = async () => (await app.request("/metrics")).text();

    const burst = await Promise.all(Array.from({ length: 100 }, scrape));
    expect(new Set(burst)).toEqual(new Set(["gathering 1\n"]));
    expect(await scrape()).toBe("gathering 2\n");
  });

  it("lets a failed gathering go, so that the next scrape tries again", async () => {
    let gatherings = 0;
    const app = metricsRoute(new Registry(), async () => {
      gatherings++;
      if (gatherings === 1) throw new Error("a worker did not answer");
      return "ok\n";
    });
    expect((await app.request("/metrics")).status).toBe(500);
    expect(await (await app.request("/metrics")).text()).toBe("ok\n");
  });
});

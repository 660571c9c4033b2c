// The audit metrics read what the database holds: the oldest unsealed event's age grows while events wait
// for a checkpoint and is 0 once one seals them all; verification outcomes are exposed from 0, so that the
// first broken one is an increase an alert sees.
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshDatabases } from "../test/auditHistories.ts";
import { eventually } from "../test/fixtures.ts";
import { registerSealingMetrics, verificationMetrics } from "./metrics.ts";

const databases = freshDatabases("audit_metrics");
beforeAll(databases.setUp);
afterAll(databases.tearDown);

async function unsealedAge(registry: Registry): Promise<number | undefined> {
  const metric = await registry.getSingleMetric("audit_unsealed_oldest_age_seconds")?.get();
  return metric?.values[0]?.value;
}

describe("audit metrics", () => {
  it("the oldest unsealed event's age: 0 on an empty history, growing while unsealed, 0 once sealed", async () => {
    const history = await databases.create();
    const registry = new Registry();
    registerSealingMetrics(registry, history.db.$client);
    try {
      expect(await unsealedAge(registry)).toBe(0);
      await history.begin();
      await eventually(async () => ((await unsealedAge(registry)) ?? 0) > 0);
      await history.seal();
      expect(await unsealedAge(registry)).toBe(0);
      await history.round();
      await eventually(async () => ((await unsealedAge(registry)) ?? 0) > 0);
    } finally {
      await history.close();
    }
  });

  it("counts verifications by outcome, each starting at 0", async () => {
    const registry = new Registry();
    const outcomes = verificationMetrics(registry);
    expect(verificationMetrics(registry)).toBe(outcomes);
    outcomes.inc({ outcome: "intact" });
    const text = await registry.metrics();
    expect(text).toContain('audit_verifications_total{outcome="intact"} 1');
    expect(text).toContain('audit_verifications_total{outcome="broken"} 0');
    expect(text).toContain('audit_verifications_total{outcome="not_as_expected"} 0');
  });
});

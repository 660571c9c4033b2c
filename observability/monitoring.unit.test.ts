// The dashboard and the alert rules match the code: every metric their queries name is one a process of the
// platform registers, the rules are valid, and their unit tests (`promtool test rules`) pass.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { registerSealingMetrics, verificationMetrics } from "../audit/metrics.ts";
import { registerDeliveryMetrics } from "../consumers/notifications/deliveryMetrics.ts";
import { consumerMetrics } from "../consumers/runtime/metrics.ts";
import type { Database } from "../db/client.ts";
import { registerSlotMetrics } from "../debezium/metrics.ts";
import { createRelayMetrics } from "../relay/metrics.ts";
import { createRegistry, httpMetrics } from "./metrics.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const rulesDirectory = join(here, "prometheus");
const run = promisify(execFile);

/** Every metric name the platform's processes expose, histograms with their series' suffixes. */
async function registeredMetricNames(): Promise<Set<string>> {
  const registry = createRegistry();
  httpMetrics(registry);
  createRelayMetrics(registry, async () => ({ pending: 0, oldestAgeSeconds: 0 }));
  consumerMetrics(registry);
  registerSealingMetrics(registry, {} as pg.Pool);
  verificationMetrics(registry);
  registerDeliveryMetrics(registry, {} as Database);
  const slots = registerSlotMetrics(registry, "postgres://nobody@127.0.0.1:1/healthcare");
  await slots.close();
  const names = new Set<string>();
  for (const metric of registry.getMetricsAsArray()) {
    names.add(metric.name);
    if (metric.constructor.name === "Histogram")
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(`${metric.name}${suffix}`);
  }
  return names;
}

const functionsAndKeywords = new Set([
  "histogram_quantile",
  "label_replace",
  "label_join",
  "count_values",
  "max_over_time",
]);

/** The metric names a PromQL expression reads: label matchers, grouping labels and strings left out. */
function metricNamesIn(expression: string): string[] {
  const bare = expression
    .replace(/"[^"]*"/g, "")
    .replace(/\{[^}]*\}/g, "")
    .replace(/\b(by|without)\s*\([^)]*\)/g, "")
    .replace(/\[[^\]]*\]/g, "");
  return [...bare.matchAll(/\b[a-z_:][a-z0-9_:]*\b/gi)]
    .map((match) => match[0])
    .filter((name) => name.includes("_") && !functionsAndKeywords.has(name));
}

describe("the Grafana dashboard", () => {
  it("parses, and every metric its queries read is registered by the code", async () => {
    const dashboard = JSON.parse(
      await readFile(join(here, "grafana", "healthcare-event-backbone.json"), "utf8"),
    ) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const registered = await registeredMetricNames();
    const queries = dashboard.panels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })),
    );
    expect(queries.length).toBeGreaterThan(20);
    const unknown = queries.flatMap(({ panel, expr }) =>
      metricNamesIn(expr)
        .filter((name) => !registered.has(name))
        .map((name) => `${panel}: ${name}`),
    );
    expect(unknown).toEqual([]);
    // Every area the operators watch has a panel.
    for (const prefix of ["outbox_relay_", "consumer_", "http_", "audit_", "debezium_"])
      expect(
        queries.some(({ expr }) => expr.includes(prefix)),
        prefix,
      ).toBe(true);
  });
});

describe("the Prometheus alert rules", () => {
  it("read only metrics the code registers", async () => {
    const rules = await readFile(join(rulesDirectory, "alerts.yml"), "utf8");
    const expressions = [...rules.matchAll(/^\s*expr:\s*(.+)$/gm)].map((match) => match[1] as string);
    expect(expressions.length).toBe(18);
    const registered = await registeredMetricNames();
    expect(expressions.flatMap(metricNamesIn).filter((name) => !registered.has(name))).toEqual([]);
  });

  it("are read for metric names without their labels, ranges and functions", () => {
    expect(
      metricNamesIn(
        'sum by (consumer, topic) (increase(consumer_records_dead_lettered_total{reason="poison"}[15m])) > 0',
      ),
    ).toEqual(["consumer_records_dead_lettered_total"]);
  });

  const promtool = run("promtool", ["--version"]).then(
    () => true,
    () => false,
  );

  it("are valid and pass their unit tests (promtool check rules, promtool test rules)", async (context) => {
    if (!(await promtool))
      context.skip("promtool is not installed (apt-get install prometheus); .ci/run installs it");
    const checked = await run("promtool", ["check", "rules", "alerts.yml"], { cwd: rulesDirectory });
    expect(checked.stdout).toContain("SUCCESS: 18 rules found");
    const tested = await run("promtool", ["test", "rules", "alerts.test.yml"], { cwd: rulesDirectory });
    expect(tested.stdout).toContain("SUCCESS");
  });
});

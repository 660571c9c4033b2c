// compliance_alerts_total{rule}: the alerts the watch has raised, read from its table at scrape time, so the
// count is the committed one (a handler's transaction may run more than once) and every process agrees.
import { Counter, type Registry } from "prom-client";
import type { Database } from "../../db/client.ts";
import { alertCounts } from "./watchStore.ts";

export function registerAlertMetrics(registry: Registry, db: Database): void {
  new Counter({
    name: "compliance_alerts_total",
    help: "Compliance alerts raised by the watch (audit.compliance.alert events), by rule",
    labelNames: ["rule"],
    registers: [registry],
    async collect() {
      const counts = await alertCounts(db).catch(() => null);
      // A failed scrape keeps the last values (the database's own alerts say why): thrown, it would fail the
      // whole scrape, every other metric of the process with it.
      if (!counts) return;
      this.reset();
      for (const { rule, alerts } of counts) this.inc({ rule }, alerts);
    },
  });
}

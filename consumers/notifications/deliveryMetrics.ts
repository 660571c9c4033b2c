// notification_deliveries_unresolved{status}: the deliveries whose outcome nobody knows, read from the ledger at
// scrape time (so every process agrees, and a stopped consumer's leftovers show too). `sending`: claimed longer
// ago than any send takes and never finished, because the process sending it died; `unknown`: a send that
// failed in a way that may have gone out. Neither is retried (a second send could deliver twice): a person
// checks each with the provider, then sets its status (README, Consumers; the alert
// NotificationDeliveriesUnresolved).
import { Gauge, type Registry } from "prom-client";
import type { Database } from "../../db/client.ts";

/** Longer than a send can take: nodemailer's longest timeout (an idle socket's) is ten minutes. */
export const SENDING_GIVEN_UP_AFTER_MS = 15 * 60_000;

export function registerDeliveryMetrics(registry: Registry, db: Database): void {
  new Gauge({
    name: "notification_deliveries_unresolved",
    help: "Notification deliveries whose outcome is not known, by status: sending (its sender died mid-send) or unknown",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      const counts = await unresolvedDeliveries(db).catch(() => null);
      // A failed scrape keeps the last values; the database's own alerts say why.
      if (!counts) return;
      for (const [status, count] of Object.entries(counts)) this.set({ status }, count);
    },
  });
}

export async function unresolvedDeliveries(db: Database): Promise<{ sending: number; unknown: number }> {
  const { rows } = await db.$client.query<{ status: "sending" | "unknown"; count: number }>({
    name: "notification-delivery.unresolved.v1",
    text: `SELECT status, count(*)::int AS count FROM notification_deliveries
            WHERE status IN ('sending', 'unknown')
              AND (status = 'unknown' OR claimed_at < now() - make_interval(secs => $1))
            GROUP BY status`,
    values: [SENDING_GIVEN_UP_AFTER_MS / 1000],
  });
  const counts = { sending: 0, unknown: 0 };
  for (const row of rows) counts[row.status] = row.count;
  return counts;
}

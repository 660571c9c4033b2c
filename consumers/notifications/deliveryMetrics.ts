// notification_deliveries_unresolved{status}: the deliveries whose outcome nobody knows, read from the ledger at
// scrape time (so every process agrees, and a stopped consumer's leftovers show too). `sending`: claimed longer
// ago than any send takes and never finished, because the process sending it died; `unknown`: a send that
// failed in a way that may have gone out. Neither is retried (a second send could deliver twice): a person
// checks each with the provider, then records what they found with `npm run notifications:resolve` (README,
// Consumers; the alert NotificationDeliveriesUnresolved).
import { Gauge, type Registry } from "prom-client";
import type { Database } from "../../db/client.ts";

/** Longer than a send can take: nodemailer's longest timeout (an idle socket's) is ten minutes. */
export const SENDING_GIVEN_UP_AFTER_MS = 15 * 60_000;

/**
 * Whether a notification_deliveries row is unresolved, with SENDING_GIVEN_UP_AFTER_MS in seconds as `$1`: what
 * the metric counts is exactly what `npm run notifications:resolve` lists and may settle.
 */
export const UNRESOLVED_DELIVERY = `(status = 'unknown'
        OR (status = 'sending' AND claimed_at < now() - make_interval(secs => $1)))`;

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
    name: "notification-delivery.unresolved.v2",
    text: `SELECT status, count(*)::int AS count FROM notification_deliveries
            WHERE status IN ('sending', 'unknown') AND ${UNRESOLVED_DELIVERY}
            GROUP BY status`,
    values: [SENDING_GIVEN_UP_AFTER_MS / 1000],
  });
  const counts = { sending: 0, unknown: 0 };
  for (const row of rows) counts[row.status] = row.count;
  return counts;
}

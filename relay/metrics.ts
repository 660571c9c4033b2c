// The polling relay's Prometheus metrics, registered on the registry the hosting process exposes.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export type RelayMetrics = ReturnType<typeof createRelayMetrics>;

export function createRelayMetrics(
  registry: Registry,
  collectBacklog: () => Promise<{ pending: number; oldestAgeSeconds: number }>,
) {
  let lastBacklog = { pending: 0, oldestAgeSeconds: 0 };
  // Both backlog gauges read one query, run at most once per scrape.
  let inFlight: Promise<void> | null = null;
  const refreshBacklog = () => {
    inFlight ??= collectBacklog()
      .then((backlog) => {
        lastBacklog = backlog;
      })
      .catch(() => {})
      .finally(() => {
        setTimeout(() => {
          inFlight = null;
        }, 100);
      });
    return inFlight;
  };

  return {
    pending: new Gauge({
      name: "outbox_relay_pending_events",
      help: `Committed or in-flight outbox rows after the relay's cursor (counted up to 1,000,000)`,
      registers: [registry],
      async collect() {
        await refreshBacklog();
        this.set(lastBacklog.pending);
      },
    }),
    oldestPendingAge: new Gauge({
      name: "outbox_relay_oldest_pending_age_seconds",
      help: "Age of the next outbox row the relay will publish; 0 when nothing is pending",
      registers: [registry],
      async collect() {
        await refreshBacklog();
        this.set(lastBacklog.oldestAgeSeconds);
      },
    }),
    published: new Counter({
      name: "outbox_relay_events_published_total",
      help: "Events acknowledged by Kafka",
      labelNames: ["topic"],
      registers: [registry],
    }),
    publishErrors: new Counter({
      name: "outbox_relay_publish_errors_total",
      help: 'Failed attempts to publish a batch, each retried; retriable="false" when Kafka refused it for good',
      labelNames: ["retriable"],
      registers: [registry],
    }),
    stalled: new Gauge({
      name: "outbox_relay_stalled",
      help: "1 while Kafka refuses the next events for good (too large, not authorized, ...): a person must act",
      registers: [registry],
    }),
    cursorAhead: new Gauge({
      name: "outbox_relay_cursor_ahead",
      help: "1 while the relay refuses to lead: its checkpoint or the outbox is ahead of the server (npm run relay:rebase)",
      registers: [registry],
    }),
    commitToAck: new Histogram({
      name: "outbox_relay_commit_to_ack_seconds",
      help: "From the event's append in its transaction to Kafka's acknowledgement",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    cyclePhase: new Histogram({
      name: "outbox_relay_cycle_phase_seconds",
      help:
        'Each step of the relay\'s cycle for a batch: phase="poll" the outbox query (which also saves the cursor ' +
        'the batch before moved), "publish" the Kafka transaction (retries included)',
      labelNames: ["phase"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: "outbox_relay_batch_size",
      help: "Events per published batch",
      buckets: [1, 10, 50, 100, 500, 1000, 2000, 5000],
      registers: [registry],
    }),
    leader: new Gauge({
      name: "outbox_relay_leader",
      help: "1 while this process holds the relay lock and publishes, 0 on standby",
      registers: [registry],
    }),
    fenced: new Counter({
      name: "outbox_relay_fenced_total",
      help: "Batches this relay could not publish because another relay had taken over its Kafka transactional id",
      registers: [registry],
    }),
  };
}

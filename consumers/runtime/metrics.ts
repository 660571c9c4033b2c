// The consumer runtime's Prometheus metrics. Every consumer of a process shares one set, told apart by the
// `consumer` label; label values are bounded (consumer names, catalog event types, topics, partitions).
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export interface PartitionLag {
  consumer: string;
  topic: string;
  partition: number;
  /** Records on the partition that the consumer group has not committed yet. */
  lag: number;
}

export type ConsumerMetrics = ReturnType<typeof createMetrics>;

const perRegistry = new WeakMap<Registry, ConsumerMetrics>();

/** The metrics on `registry`, created by the first consumer that asks, so that several can share it. */
export function consumerMetrics(registry: Registry): ConsumerMetrics {
  let metrics = perRegistry.get(registry);
  if (!metrics) {
    metrics = createMetrics(registry);
    perRegistry.set(registry, metrics);
  }
  return metrics;
}

function createMetrics(registry: Registry) {
  /** Each consumer registers how to measure its lag; read at scrape time, so a stuck consumer still shows it. */
  const lagSources = new Set<() => Promise<PartitionLag[]>>();
  return {
    lagSources,
    processed: new Counter({
      name: "consumer_records_processed_total",
      help: "Events whose handler ran and committed its effect",
      labelNames: ["consumer", "event_type"],
      registers: [registry],
    }),
    duplicates: new Counter({
      name: "consumer_records_duplicate_total",
      help: "Redelivered events the inbox acknowledged without running the handler again",
      labelNames: ["consumer", "event_type"],
      registers: [registry],
    }),
    erased: new Counter({
      name: "consumer_records_erased_total",
      help: "Events skipped because the patient they carry personal data of was erased (their key is destroyed)",
      labelNames: ["consumer", "event_type"],
      registers: [registry],
    }),
    superseded: new Counter({
      name: "consumer_records_superseded_total",
      help:
        "Events skipped because the consumer had applied a newer event of their aggregate (a re-driven dead " +
        "letter, or a replayed copy of an event it parked): applied, the older would have overwritten the newer",
      labelNames: ["consumer", "event_type"],
      registers: [registry],
    }),
    failures: new Counter({
      name: "consumer_handler_failures_total",
      help: "Failed attempts at handling an event",
      labelNames: ["consumer", "event_type"],
      registers: [registry],
    }),
    retries: new Counter({
      name: "consumer_retries_total",
      help:
        "Retries scheduled after a failed attempt; cause=platform when Postgres or the network was down, " +
        "prerequisite when the record waits for another topic's event",
      labelNames: ["consumer", "event_type", "cause"],
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: "consumer_records_dead_lettered_total",
      help:
        "Records sent to the dead-letter topic: reason=poison (unreadable, breaking the record contract, " +
        "reusing a processed event's id with another type or value, or not a committed event) or " +
        "attempts-exhausted",
      labelNames: ["consumer", "topic", "reason"],
      registers: [registry],
    }),
    // Counted apart from the dead letters too: a record the outbox never committed on a platform topic was
    // written by someone with produce access to it (or its event was archived before archives kept digests), a
    // security incident rather than a fault to fix and re-drive (alert RecordsNotCommitted).
    notCommitted: new Counter({
      name: "consumer_records_not_committed_total",
      help:
        "Records refused as not a committed event and sent to the dead-letter topic (also counted there, " +
        "reason=poison): neither the outbox nor the archived events' digests hold their id (forged, or archived " +
        "before digests were kept), or one holds it with another value (forged)",
      labelNames: ["consumer", "topic"],
      registers: [registry],
    }),
    deadLetterRefusals: new Counter({
      name: "consumer_dead_letter_refusals_total",
      help:
        "Dead letters Kafka refused for good (code: MESSAGE_TOO_LARGE, TOPIC_AUTHORIZATION_FAILED, ...): the " +
        "record is neither handled nor skipped, and its partition waits until a person fixes the cause",
      labelNames: ["consumer", "topic", "code"],
      registers: [registry],
    }),
    handlerDuration: new Histogram({
      name: "consumer_handler_duration_seconds",
      help: "Time to handle one event, its transaction included, per attempt",
      labelNames: ["consumer", "event_type"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    lag: new Gauge({
      name: "consumer_lag_records",
      help: "Records on each partition this process consumes that its group has not committed",
      labelNames: ["consumer", "topic", "partition"],
      registers: [registry],
      async collect() {
        const samples = await Promise.all([...lagSources].map((source) => source().catch(() => [])));
        this.reset();
        for (const { consumer, topic, partition, lag } of samples.flat()) {
          this.set({ consumer, topic, partition: String(partition) }, lag);
        }
      },
    }),
  };
}

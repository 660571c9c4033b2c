// The platform's own consumers, built from configuration and run together: `consumers/main.ts` runs them
// as a process of their own, and `npm start` can run them beside the API with startPlatformConsumers().
import type { Registry } from "prom-client";
import type { Database } from "../db/client.ts";
import { PatientKeyring } from "../db/patientKeys.ts";
import { sweepAlone } from "../db/sweepAlone.ts";
import type { ReadinessCheck } from "../observability/health.ts";
import type { Logger } from "../observability/logger.ts";
import type { MasterKeys } from "../phi/masterKeys.ts";
import { type PeriodicSweep, startPeriodicSweep } from "../process/periodicSweep.ts";
import { registerAlertMetrics } from "./complianceWatch/alertMetrics.ts";
import { complianceWatchConsumer } from "./complianceWatch/complianceWatchConsumer.ts";
import { complianceWatchConfig } from "./complianceWatch/watchSettings.ts";
import { forgetPastObservations } from "./complianceWatch/watchStore.ts";
import type { ConsumersConfig } from "./config.ts";
import { registerDeliveryMetrics } from "./notifications/deliveryMetrics.ts";
import { notificationDeliveryConsumer } from "./notifications/notificationDelivery.ts";
import { notificationRequestsConsumer } from "./notifications/notificationRequests.ts";
import { recordingTransport } from "./notifications/transports/recordingTransport.ts";
import { smtpTransport } from "./notifications/transports/smtpTransport.ts";
import type { NotificationTransport } from "./notifications/transports/transport.ts";
import { patientDirectoryConsumer } from "./patientDirectory/patientDirectoryConsumer.ts";
import type { ConsumerDefinition } from "./runtime/consumerDefinition.ts";
import { EventConsumer } from "./runtime/eventConsumer.ts";
import { forgetOutlivedInboxEntries, INBOX_SWEEP_EVERY_MS } from "./runtime/inbox.ts";

/** Hourly: the watch's windows are an hour by default (COMPLIANCE_WINDOW_MINUTES). */
const WATCH_SWEEP_EVERY_MS = 3_600_000;

export interface PlatformConsumers {
  consumers: readonly EventConsumer[];
  /** Down while a consumer reads nothing (EventConsumer.stalled): stopped for good, or restarting on one failure. */
  readiness: ReadinessCheck;
  inboxSweep: PeriodicSweep;
  /** The compliance watch's past observations (null when the watch does not run here). */
  watchSweep: PeriodicSweep | null;
  stop(): Promise<void>;
}

export async function startPlatformConsumers(options: {
  config: ConsumersConfig;
  db: Database;
  kafkaBrokers: string[];
  log: Logger;
  registry: Registry;
  /** This process's master keys: for reading sealed fields and for sealing the events the consumers write. */
  masterKeys: MasterKeys;
  /** The tracestate members a record's trace context keeps (TRACESTATE_KEYS), into the events consumers write. */
  tracestateKeys: ReadonlySet<string>;
}): Promise<PlatformConsumers> {
  const { config, db, log, masterKeys } = options;
  const recording = recordingTransport(db);
  const email: NotificationTransport = config.SMTP_URL
    ? smtpTransport({ url: config.SMTP_URL, sender: config.NOTIFICATION_SENDER })
    : recording;
  // No SMS provider is wired yet: text messages are recorded, in every environment.
  const transports = { email, sms: recording };
  // Not `email`/`sms` as field names: the logger redacts those (they usually hold addresses).
  log.info({ emailTransport: email.name, smsTransport: transports.sms.name }, "notification transports");

  const watch = complianceWatchConfig(config);
  const definitions: Record<string, ConsumerDefinition> = {
    "patient-directory": patientDirectoryConsumer,
    "notification-requests": notificationRequestsConsumer({ masterKeys }),
    "notification-delivery": notificationDeliveryConsumer({ transports, log }),
    "compliance-watch": complianceWatchConsumer(watch, { masterKeys }),
  };
  if (config.CONSUMERS.includes("compliance-watch")) registerAlertMetrics(options.registry, db);
  if (config.CONSUMERS.includes("notification-delivery")) registerDeliveryMetrics(options.registry, db);
  const consumers = config.CONSUMERS.map(
    (name) =>
      new EventConsumer({
        definition: definitions[name] as ConsumerDefinition,
        db,
        kafkaBrokers: options.kafkaBrokers,
        log,
        registry: options.registry,
        keys: new PatientKeyring(db, masterKeys),
        concurrency: config.CONSUMER_CONCURRENCY,
        tracestateKeys: options.tracestateKeys,
      }),
  );
  // Inbox entries of events that no record can bring back any more (runtime/inbox.ts): at start (before
  // the consumers join their groups: the database's housekeeping does not wait for Kafka), then daily.
  const inboxSweep = startPeriodicSweep({
    what: "outlived inbox entries",
    everyMs: INBOX_SWEEP_EVERY_MS,
    sweep: () => forgetOutlivedInboxEntries(db),
    log,
  });
  const watchSweep = config.CONSUMERS.includes("compliance-watch")
    ? startPeriodicSweep({
        what: "past compliance watch observations",
        everyMs: WATCH_SWEEP_EVERY_MS,
        sweep: () =>
          sweepAlone(db, "compliance-watch", (tx) => forgetPastObservations(tx, watch.windowSeconds)),
        log,
      })
    : null;
  const stopSweeps = () => Promise.all([inboxSweep.stop(), watchSweep?.stop()]);
  await Promise.all(consumers.map((consumer) => consumer.start())).catch(async (error: unknown) => {
    await stopSweeps();
    throw error;
  });
  return {
    consumers,
    readiness: consumersReadiness(consumers),
    inboxSweep,
    watchSweep,
    async stop() {
      await stopSweeps();
      await Promise.all(consumers.map((consumer) => consumer.stop()));
      await email.close?.();
    },
  };
}

/**
 * Down, naming each consumer that reads nothing and why: kafkajs stopped it without restarting it (a failure it
 * does not retry), or restarts it again and again on the same failure (EventConsumer.stalled). Such a consumer
 * reads nothing, on any partition of its topics, while the process goes on serving.
 */
export function consumersReadiness(
  consumers: readonly Pick<EventConsumer, "name" | "stalled">[],
): ReadinessCheck {
  return {
    name: "consumers",
    check: async () => {
      const stalled = consumers.filter((consumer) => consumer.stalled !== null);
      if (stalled.length === 0) return;
      const named = stalled.map((consumer) => `${consumer.name} (${consumer.stalled?.message})`).join(", ");
      throw new Error(`reading nothing: ${named}`);
    },
  };
}

// RELAY_MODE=debezium for `npm start`: the relay is a connector on a Kafka Connect worker, so this process only
// makes sure the worker runs, hands over from the polling relay if it was the one, and reports on it.
import pg from "pg";
import { readRelayMode } from "../db/outbox/relayMode.ts";
import { ensureConnectWorker } from "../debezium/connector.ts";
import type { ConnectorOptions } from "../debezium/connectorConfig.ts";
import type { ConnectClient } from "../debezium/connectRest.ts";
import { debeziumReadinessCheck } from "../debezium/status.ts";
import { stopConnect } from "../stack/connect.ts";
import { switchToDebezium, switchToPolling } from "./switch.ts";

export interface DebeziumRelay {
  connect: ConnectClient;
  /** For /health/ready: down while the connector or its task is not RUNNING. */
  readiness: { name: string; check: () => Promise<unknown> };
  /** Stops the local worker if this call started it (its connector resumes at the next start); else nothing. */
  stopStarted(): Promise<void>;
}

export async function startDebeziumRelay(options: {
  databaseUrl: string;
  kafkaBrokers: string[];
  log: (line: string) => void;
  connectorOptions?: ConnectorOptions;
}): Promise<DebeziumRelay> {
  const worker = await ensureConnectWorker(options.kafkaBrokers, options.log);
  const connectDatabaseUrl = process.env.CONNECT_DATABASE_URL || undefined;
  try {
    const handover = await switchToDebezium({ ...options, connect: worker.connect, connectDatabaseUrl });
    options.log(
      handover.alreadyDebezium
        ? `debezium: connector running on ${worker.connect.url}, streaming from slot position ${handover.slotPosition}`
        : `debezium: took over from the polling relay at (${handover.pollingCursor.txId}, ${handover.pollingCursor.position}), ` +
            `slot position ${handover.slotPosition}, ${handover.published} events handed over`,
    );
  } catch (error) {
    if (worker.startedByUs) await stopConnect();
    throw error;
  }
  return {
    connect: worker.connect,
    readiness: debeziumReadinessCheck({
      databaseUrl: options.databaseUrl,
      connect: worker.connect,
      connectDatabaseUrl,
      kafkaBrokers: options.kafkaBrokers,
    }),
    stopStarted: async () => {
      if (worker.startedByUs) await stopConnect();
    },
  };
}

/**
 * RELAY_MODE=polling on a database that Debezium relays: hands the stream back (handover/switch.ts) before the
 * polling relay starts, so that it neither stands by forever nor publishes beside the connector.
 */
export async function ensurePollingMode(options: {
  databaseUrl: string;
  kafkaBrokers: string[];
  log: (line: string) => void;
}): Promise<void> {
  const client = new pg.Client({ connectionString: options.databaseUrl });
  await client.connect();
  const { mode } = await readRelayMode(client).finally(() => client.end());
  if (mode === "polling") return;
  const worker = await ensureConnectWorker(options.kafkaBrokers, options.log);
  try {
    const handover = await switchToPolling({
      databaseUrl: options.databaseUrl,
      connectDatabaseUrl: process.env.CONNECT_DATABASE_URL || undefined,
      connect: worker.connect,
      log: options.log,
    });
    options.log(
      `polling relay takes over from Debezium at (${handover.pollingCursor.txId}, ${handover.pollingCursor.position})`,
    );
  } finally {
    if (worker.startedByUs) await stopConnect();
  }
}

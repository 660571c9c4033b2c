// Lets go of a database that Debezium streams from, so that it can be dropped: DROP DATABASE refuses while a
// replication slot exists on it, even WITH (FORCE). The test setup calls this before recreating its database.
import pg from "pg";
import { loadConnectUrl } from "../config/env.ts";
import { localConnectUrl, probeWorker } from "../stack/connect.ts";
import { removeConnector } from "./connector.ts";
import { debeziumTarget } from "./connectorConfig.ts";
import { ConnectClient } from "./connectRest.ts";
import { dropSlotsOfDatabase } from "./sql/replicationSlot.ts";

/**
 * Removes the database's connector from the worker (KAFKA_CONNECT_URL or the local one, when it answers) and
 * drops every replication slot on the database. `serverUrl` is any database URL on the same server.
 */
export async function releaseDatabase(serverUrl: string, database: string): Promise<void> {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  const connectUrl = loadConnectUrl() ?? localConnectUrl();
  if ((await probeWorker(connectUrl)) === "ready") {
    await removeConnector(new ConnectClient(connectUrl), debeziumTarget(url.toString()).connectorName);
  }
  const client = new pg.Client({ connectionString: serverUrl, application_name: "debezium-teardown" });
  await client.connect();
  try {
    await dropSlotsOfDatabase(client, database);
  } finally {
    await client.end();
  }
}

// Debezium on a Kafka that speaks only TLS and SASL: the Connect worker (its own, on 38083) logs in with
// SCRAM-SHA-512 for its own clients and the connector's, and every secret (its SASL login, the database
// password) reaches it through the file config provider. The connector's stored config, as the REST API shows
// it and as its config topic holds it, carries placeholders, and the connector streams the outbox.
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConnectCluster, connectGroupNames, startConnect, stopConnect } from "../stack/connect.ts";
import { stackPaths } from "../stack/processes.ts";
import { createPatients, databaseUrl, testDatabase } from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import {
  applyCatalogTopics,
  saslBrokers,
  saslSecurity,
  startSecureKafka,
  users,
} from "../test/secureKafka.ts";
import { connectorSecretsFile, registerConnector, removeConnector } from "./connector.ts";
import { debeziumTarget } from "./connectorConfig.ts";
import { ConnectClient } from "./connectRest.ts";
import { preparePostgres } from "./sql/preparePostgres.ts";
import { createSlotExportingSnapshot, dropSlot } from "./sql/replicationSlot.ts";

const security = saslSecurity("scram-sha-512");
const worker: ConnectCluster = { name: "connect-secure-test", basePort: 38083, workers: 1, security };
const db = testDatabase();
const admin = new pg.Client({ connectionString: databaseUrl() });
// The test server's own password, which Postgres checks (the embedded server asks for it), so the connector
// streams only if the config provider really handed it over. A server that trusts local connections (the
// machine's own) has none in its URL: a made-up one then shows only where it goes (a secrets file) and where
// it never goes (the connector's stored config).
const withPassword = new URL(databaseUrl());
const serverPassword = withPassword.password ? decodeURIComponent(withPassword.password) : null;
const databasePassword = serverPassword ?? `pg-secret-${randomUUID()}`;
withPassword.password = encodeURIComponent(databasePassword);
/** Whether `text` holds the password: anywhere when it is made up, else as the password setting's value (the
 * server's may be a common word, "postgres", that the user's name and the connector's class hold too). */
const holdsPassword = (text: string) =>
  serverPassword === null
    ? text.includes(databasePassword)
    : text.includes(`"database.password":${JSON.stringify(databasePassword)}`);
// Named apart from the other Debezium tests' connector and slot on this database, which the shared worker may
// still run: two readers of one slot would take it from each other.
const defaults = debeziumTarget(withPassword.toString());
const target = {
  ...defaults,
  connectorName: `${defaults.connectorName}-secure`,
  slotName: `${defaults.slotName}_secure`.slice(0, 63),
};
let connect: ConnectClient;

beforeAll(async () => {
  await startSecureKafka();
  await applyCatalogTopics();
  connect = new ConnectClient((await startConnect(saslBrokers, () => {}, worker)).url);
  await admin.connect();
  await preparePostgres(admin, target);
  await removeConnector(connect, target.connectorName);
  await dropSlot(admin, target.slotName);
  const slot = await createSlotExportingSnapshot(databaseUrl(), target.slotName);
  await slot.release();
}, 300_000);

afterAll(async () => {
  await removeConnector(connect, target.connectorName).catch(() => undefined);
  await dropSlot(admin, target.slotName).catch(() => undefined);
  await admin.end();
  await db.$client.end();
  await stopConnect(worker);
}, 120_000);

describe("Debezium over SASL_SSL with its secrets behind a config provider", () => {
  it("stores placeholders, never the passwords, and streams committed events", async () => {
    const configTopic = await tapTopic(saslBrokers, connectGroupNames(worker).config, security);
    const events = await tapTopic(saslBrokers, "patient-events", security);
    // The secure broker is one node, whatever KAFKA_BROKER_COUNT says of the cluster the other tests use.
    await registerConnector(connect, target, saslBrokers, {
      kafkaSecurity: security,
      replication: { factor: 1, minInsyncReplicas: 1 },
    });

    const secretsFile = connectorSecretsFile(target);
    const stored = (await (
      await fetch(`${connect.url}/connectors/${target.connectorName}/config`)
    ).json()) as Record<string, string>;
    expect(stored["database.password"]).toBe(`\${file:${secretsFile}:database.password}`);
    expect(holdsPassword(JSON.stringify(stored))).toBe(false);
    expect(await readFile(secretsFile, "utf8")).toBe(`database.password=${databasePassword}\n`);

    // The worker writes its config topic in transactions, so the tap reads it as a consumer (until the
    // connector's record), not up to an end offset that a transaction marker holds.
    const placeholder = `\${file:${secretsFile}:database.password}`;
    const configRecords = (
      await configTopic.collect({
        done: (records) => records.some((record) => record.value?.includes(placeholder)),
        timeoutMs: 30_000,
      })
    ).map((record) => record.value ?? "");
    expect(configRecords.some((value) => value.includes(placeholder))).toBe(true);
    expect(configRecords.filter(holdsPassword)).toEqual([]);

    // The worker's own SASL password is in its secrets file only, not in its properties.
    const workerDir = `${stackPaths.data}/${worker.name}`;
    const properties = await readFile(`${workerDir}/connect-distributed.properties`, "utf8");
    expect(properties).toContain("sasl.mechanism=SCRAM-SHA-512");
    expect(properties).not.toContain(users["scram-sha-512"].password);

    const eventIds = await createPatients(db, 3);
    const records = await events.collect({ done: containsAll(eventIds), timeoutMs: 90_000 });
    expectExactlyOnce(records, eventIds);
  });
});

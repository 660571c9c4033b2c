// Kafka Connect and `npm run relay:switch`, each with only the ACLs `npm run topics -- acls` grants its principal,
// on a broker that checks ACLs (test/secureKafka.ts). The worker logs in as the Connect principal: it creates its
// state topics, joins its group, and runs the connector's exactly-once producer under its transactional ids. The
// switch runs as the operators' principal: it publishes the polling relay's backlog as the relay's stream
// (fencing its transactional id), registers the connector (creating its heartbeat topic), and hands back.
// In a database of its own, whose relay mode and slot are this file's alone.
import { randomUUID } from "node:crypto";
import kafkajs from "kafkajs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRelayMode } from "../db/outbox/relayMode.ts";
import { createIdempotentProducer, createKafka } from "../kafka/client.ts";
import { type ConnectCluster, startConnect, stopConnect } from "../stack/connect.ts";
import { spawnScript } from "../test/childProcess.ts";
import { createPatients } from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import { ownDatabase } from "../test/ownDatabase.ts";
import {
  aclPrincipalVariables,
  aclUserSecurity,
  applyCatalogTopics,
  runTopicsAsAdministrator,
  saslBrokers,
  saslSecurity,
  securityVariables,
  startSecureKafka,
} from "../test/secureKafka.ts";
import { removeConnector } from "./connector.ts";
import { debeziumTarget } from "./connectorConfig.ts";
import { ConnectClient } from "./connectRest.ts";
import { dropSlot } from "./sql/replicationSlot.ts";

// A worker group of its own (its port names its group and state topics), logging in as the Connect principal.
const worker: ConnectCluster = {
  name: "connect-acl-test",
  basePort: 38183,
  workers: 1,
  security: aclUserSecurity("connect"),
};
const own = ownDatabase("connect_acls");
let connect: ConnectClient;

beforeAll(async () => {
  await startSecureKafka();
  await applyCatalogTopics();
  // The ACLs of this worker's group: `npm run topics -- acls` reads the group's names from CONNECT_PORT.
  const applied = await runTopicsAsAdministrator(["acls"], {
    ...aclPrincipalVariables,
    CONNECT_PORT: String(worker.basePort),
  });
  expect(applied.code, applied.output).toBe(0);
  connect = new ConnectClient((await startConnect(saslBrokers, () => {}, worker)).url);
  await own.setUp();
}, 300_000);

afterAll(async () => {
  // The slot would keep the database from being dropped.
  const target = debeziumTarget(own.url);
  await removeConnector(connect, target.connectorName).catch(() => undefined);
  const admin = new pg.Client({ connectionString: own.url });
  await admin.connect();
  await dropSlot(admin, target.slotName).finally(() => admin.end());
  await own.tearDown();
  await stopConnect(worker);
}, 120_000);

/** `npm run relay:switch -- <mode> --yes` as the operators' principal, against this file's worker. */
async function switchAsOperator(mode: "debezium" | "polling") {
  const command = spawnScript("handover/switch.ts", {
    args: [mode, "--yes"],
    env: {
      DATABASE_URL: own.url,
      KAFKA_BROKERS: saslBrokers.join(","),
      ...securityVariables(aclUserSecurity("operator")),
      KAFKA_CONNECT_URL: connect.url,
    },
  });
  const code = await command.exited;
  return { code, output: command.output() };
}

describe("Kafka Connect and relay:switch with only the ACLs granted to their principals", () => {
  it("the switch hands the backlog and the stream to the Connect principal's connector, exactly once, and back", async () => {
    const events = await tapTopic(saslBrokers, "patient-events", saslSecurity("scram-sha-512"));
    // Committed before the switch and never published by a polling relay: the switch itself publishes them.
    const backlog = await createPatients(own.db, 3);

    const toDebezium = await switchAsOperator("debezium");
    expect(toDebezium.code, toDebezium.output).toBe(0);
    expect(toDebezium.output).toContain(`"published":${backlog.length}`);
    const streamed = await createPatients(own.db, 3);
    const all = [...backlog, ...streamed];
    expectExactlyOnce(await events.collect({ done: containsAll(all), timeoutMs: 90_000 }), all);

    // Neither the worker's own clients nor the task's exactly-once producer was refused anything.
    const status = await connect.status(debeziumTarget(own.url).connectorName);
    expect(status?.connector.state).toBe("RUNNING");
    expect(status?.tasks.map((task) => task.state)).toEqual(["RUNNING"]);

    const toPolling = await switchAsOperator("polling");
    expect(toPolling.code, toPolling.output).toBe(0);
    const client = await own.db.$client.connect();
    try {
      expect((await readRelayMode(client)).mode).toBe("polling");
    } finally {
      client.release();
    }
  });

  it("the Connect principal is refused the dead-letter topics, which are the consumers' to write", async () => {
    const producer = createIdempotentProducer(
      createKafka({
        brokers: saslBrokers,
        clientId: "test-connect-acl",
        security: aclUserSecurity("connect"),
        retries: 1,
      }),
    );
    const refusal = await (async () => {
      await producer.connect();
      await producer.send({
        topic: "patient-events.dlq",
        acks: -1,
        messages: [{ key: randomUUID(), value: "{}" }],
      });
    })().then(
      () => undefined,
      (error: unknown) => error,
    );
    await producer.disconnect().catch(() => {});
    expect(refusal).toBeInstanceOf(kafkajs.KafkaJSError);
    expect(String((refusal as Error).message)).toMatch(/not authorized/i);
  });
});

// Kafka Connect as the least-privileged principal `npm run topics -- acls` grants it, on a broker that checks
// ACLs (test/secureKafka.ts): the worker starts (its state topics, its group, the exactly-once transactional ids
// of its leader and its task), the connector the operators' principal registers streams each committed event
// exactly once, and the worker is refused what it was not granted.
import { randomUUID } from "node:crypto";
import kafkajs from "kafkajs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertPatient } from "../apps/patient/store.ts";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { createIdempotentProducer, createKafka } from "../kafka/client.ts";
import { type ConnectCluster, startConnect, stopConnect } from "../stack/connect.ts";
import { databaseUrl, patientCreated, testDatabase, testEventContext } from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import {
  aclPrincipalVariables,
  aclUserSecurity,
  applyCatalogTopics,
  runTopicsAsAdministrator,
  saslBrokers,
  saslSecurity,
  startSecureKafka,
} from "../test/secureKafka.ts";
import { registerConnector, removeConnector } from "./connector.ts";
import { debeziumTarget } from "./connectorConfig.ts";
import { ConnectClient } from "./connectRest.ts";
import { preparePostgres } from "./sql/preparePostgres.ts";
import { createSlotExportingSnapshot, dropSlot } from "./sql/replicationSlot.ts";

// A worker group of its own (its port names its group and state topics), logging in as the connect principal.
const worker: ConnectCluster = {
  name: "connect-acl-test",
  basePort: 38183,
  workers: 1,
  security: aclUserSecurity("connect"),
};
const db = testDatabase();
const admin = new pg.Client({ connectionString: databaseUrl() });
// Named apart from the other Debezium tests' connectors and slots on this database.
const defaults = debeziumTarget(databaseUrl());
const target = {
  ...defaults,
  connectorName: `${defaults.connectorName}-acl`,
  slotName: `${defaults.slotName}_acl`.slice(0, 63),
};
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

describe("Kafka Connect with only the ACLs granted to its principal", () => {
  it("runs the connector the operators register and streams each committed event exactly once", async () => {
    const administrator = saslSecurity("scram-sha-512");
    const events = await tapTopic(saslBrokers, "patient-events", administrator);
    // The operators' principal registers it: the heartbeat topic is created with the operators' grants.
    await registerConnector(connect, target, saslBrokers, {
      kafkaSecurity: aclUserSecurity("operator"),
      replication: { factor: 1, minInsyncReplicas: 1 },
    });

    const eventIds = await writeTransaction(db, async (tx) => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const patientId = randomUUID();
        const created = patientCreated(patientId);
        await insertPatient(tx, { id: patientId, ...created.data });
        const [event] = await appendEvents(tx, testEventContext(), [created]);
        ids.push(event?.eventId as string);
      }
      return ids;
    });
    expectExactlyOnce(await events.collect({ done: containsAll(eventIds), timeoutMs: 90_000 }), eventIds);

    // Still running: neither the worker's own clients nor the task's exactly-once producer was refused.
    const status = await connect.status(target.connectorName);
    expect(status?.connector.state).toBe("RUNNING");
    expect(status?.tasks.map((task) => task.state)).toEqual(["RUNNING"]);
  });

  it("is refused the dead-letter topics, which are the consumers' to write", async () => {
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

// The relay configured only by KAFKA_SSL* and KAFKA_SASL_* publishes to a broker that speaks nothing but TLS,
// and a consumer with the same settings reads each event back: SASL over TLS with each mechanism, and mutual TLS
// with a client certificate. The broker (test/secureKafka.ts) has no plaintext listener for clients.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertPatient } from "../apps/patient/store.ts";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { spawnScript } from "../test/childProcess.ts";
import { patientCreated, testDatabase, testEventContext } from "../test/fixtures.ts";
import { expectExactlyOnce } from "../test/kafkaAssertions.ts";
import { containsAll, tapTopic } from "../test/kafkaTap.ts";
import {
  applyCatalogTopics,
  mtlsBrokers,
  mtlsSecurity,
  saslBrokers,
  saslSecurity,
  securityVariables,
  startSecureKafka,
} from "../test/secureKafka.ts";

const db = testDatabase();
beforeAll(async () => {
  await startSecureKafka();
  await applyCatalogTopics();
}, 240_000);
afterAll(() => db.$client.end());

const cases: Array<[string, string[], KafkaSecurity]> = [
  ["SASL_SSL with SCRAM-SHA-512", saslBrokers, saslSecurity("scram-sha-512")],
  ["SASL_SSL with SCRAM-SHA-256", saslBrokers, saslSecurity("scram-sha-256")],
  ["SASL_SSL with PLAIN", saslBrokers, saslSecurity("plain")],
  ["mutual TLS with a client certificate", mtlsBrokers, mtlsSecurity()],
];

describe("the relay over an encrypted, authenticated Kafka connection", () => {
  it.each(cases)("over %s, publishes each committed event once", async (_, brokers, security) => {
    const tap = await tapTopic(brokers, "patient-events", security);
    const relay = spawnScript("relay/main.ts", {
      env: { PORT: "0", LOG_LEVEL: "info", KAFKA_BROKERS: brokers.join(","), ...securityVariables(security) },
    });
    try {
      const eventIds: string[] = [];
      await writeTransaction(db, async (tx) => {
        for (let i = 0; i < 3; i++) {
          const patientId = randomUUID();
          const created = patientCreated(patientId);
          await insertPatient(tx, { id: patientId, ...created.data });
          const [event] = await appendEvents(tx, testEventContext(), [created]);
          eventIds.push(event?.eventId as string);
        }
      });
      const records = await tap.collect({ done: containsAll(eventIds), timeoutMs: 90_000 });
      expectExactlyOnce(records, eventIds);
      // The password goes to the broker, never to the log.
      if (security.sasl) expect(relay.output()).not.toContain(security.sasl.password);
    } finally {
      relay.child.kill("SIGTERM");
      await relay.exited;
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";
import { spawnScript } from "../test/childProcess.ts";
import { createPatients, testDatabase } from "../test/fixtures.ts";
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
      const eventIds = await createPatients(db, 3);
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

// Fail closed on Kafka security: a wrong SASL password, or a broker certificate the configured CA did not sign,
// stops every send with an error that names the variables to fix. Nothing reaches the broker, and nothing
// falls back to plaintext or to an unverified connection.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertPatient } from "../apps/patient/store.ts";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";
import { writeTransaction } from "../db/client.ts";
import { appendEvents } from "../db/outbox/appendEvents.ts";
import { createKafka } from "../kafka/client.ts";
import { spawnScript } from "../test/childProcess.ts";
import { patientCreated, testDatabase, testEventContext } from "../test/fixtures.ts";
import { tapTopic } from "../test/kafkaTap.ts";
import {
  applyCatalogTopics,
  certificates,
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
afterAll(async () => {
  // The refused events stay pending; later files' relays publish them to their own broker.
  await db.$client.end();
});

const wrongPassword: KafkaSecurity = {
  ...saslSecurity("scram-sha-512"),
  sasl: { ...users512(), password: "not-the-password" },
};
const untrustedBroker: KafkaSecurity = {
  ...saslSecurity("scram-sha-512"),
  tls: { caFile: certificates.otherCa },
};
const defaultTrustStore: KafkaSecurity = { ...saslSecurity("scram-sha-512"), tls: {} };

const cases: Array<[string, KafkaSecurity, RegExp]> = [
  [
    "a wrong SASL password",
    wrongPassword,
    /Kafka refused the SASL credentials \(KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD\)/,
  ],
  [
    "a broker certificate KAFKA_SSL_CA_FILE's CA did not sign",
    untrustedBroker,
    /The TLS handshake with Kafka failed \(KAFKA_SSL_CA_FILE.*unable to verify/,
  ],
  [
    "a broker certificate no default CA signed (KAFKA_SSL_CA_FILE unset)",
    defaultTrustStore,
    /The TLS handshake with Kafka failed \(KAFKA_SSL_CA_FILE.*unable to verify/,
  ],
];

describe("a relay whose Kafka credentials or trust are wrong", () => {
  it.each(cases)(
    "with %s, logs an error naming the variables and publishes nothing",
    async (_, security, error) => {
      const trusted = saslSecurity("scram-sha-512");
      const tap = await tapTopic(saslBrokers, "patient-events", trusted);
      const relay = spawnScript("relay/main.ts", {
        env: {
          PORT: "0",
          LOG_LEVEL: "info",
          KAFKA_BROKERS: saslBrokers.join(","),
          ...securityVariables(security),
        },
      });
      try {
        const patientId = randomUUID();
        const eventId = await writeTransaction(db, async (tx) => {
          const created = patientCreated(patientId);
          await insertPatient(tx, { id: patientId, ...created.data });
          const [event] = await appendEvents(tx, testEventContext(), [created]);
          return event?.eventId as string;
        });
        await relay.printed(error, 90_000);
        // Several attempts, each refused: the relay keeps the event and never sends it another way.
        await relay.printed(/"attempt":2/, 30_000);
        const held = await tap.read();
        expect(held.filter((record) => record.message.value?.toString().includes(eventId))).toEqual([]);
        const pending = await db.$client.query(
          `SELECT 1 FROM outbox o WHERE o.event_id = $1 AND NOT EXISTS (
           SELECT 1 FROM relay_checkpoints c WHERE c.name = 'outbox' AND (c.tx_id, c.position) >= (o.tx_id, o.position))`,
          [eventId],
        );
        expect(pending.rowCount).toBe(1);
        if (security.sasl) expect(relay.output()).not.toContain(security.sasl.password);
      } finally {
        relay.child.kill("SIGTERM");
        await relay.exited;
      }
    },
  );

  it("refuses a direct client that trusts another CA, whatever listener it tries", async () => {
    const admin = createKafka({
      brokers: saslBrokers,
      clientId: "test-untrusted",
      security: untrustedBroker,
      retries: 0,
    }).admin();
    await expect(admin.connect()).rejects.toThrow(/unable to verify the first certificate/);
    await admin.disconnect();
  });
});

function users512() {
  const { sasl } = saslSecurity("scram-sha-512");
  if (!sasl) throw new Error("the SCRAM-SHA-512 settings have no SASL part");
  return sasl;
}

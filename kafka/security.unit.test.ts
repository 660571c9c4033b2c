import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { javaClientSecrets, javaClientSecurity, kafkajsSecurity, kafkaSecurityFailure } from "./security.ts";

const dir = mkdtempSync(join(tmpdir(), "kafka-client-security-"));
const pem = (name: string, label: string) => {
  const path = join(dir, name);
  writeFileSync(path, `-----BEGIN ${label}-----\nAAAA\nBBBB\n-----END ${label}-----\n`);
  return path;
};
const tls = {
  caFile: pem("ca.pem", "CERTIFICATE"),
  certFile: pem("client.pem", "CERTIFICATE"),
  keyFile: pem("client.key", "PRIVATE KEY"),
};
const sasl = { mechanism: "scram-sha-512" as const, username: "relay", password: 'pa"ss\\word' };
const reference = (name: string) => `\${file:/secrets/kafka.properties:${name}}`;

describe("Kafka client security settings", () => {
  it("give kafkajs verified TLS with the CA and client certificate, and the SASL login", () => {
    const config = kafkajsSecurity({ tls, sasl });
    expect(config.ssl).toMatchObject({ rejectUnauthorized: true, ca: [expect.stringContaining("AAAA")] });
    expect(config.sasl).toEqual(sasl);
    expect(kafkajsSecurity({})).toEqual({});
  });

  it("give a Java client placeholders for its secrets, and the secrets file their values", () => {
    const properties = javaClientSecurity({ tls, sasl }, reference);
    expect(properties).toEqual({
      "security.protocol": "SASL_SSL",
      "ssl.truststore.type": "PEM",
      "ssl.truststore.location": tls.caFile,
      "ssl.keystore.type": "PEM",
      "ssl.keystore.certificate.chain": "-----BEGIN CERTIFICATE----- AAAA BBBB -----END CERTIFICATE-----",
      "ssl.keystore.key": reference("kafka.ssl.keystore.key"),
      "sasl.mechanism": "SCRAM-SHA-512",
      "sasl.jaas.config": reference("kafka.sasl.jaas.config"),
    });
    expect(JSON.stringify(properties)).not.toContain('pa\\"ss');
    expect(javaClientSecrets({ tls, sasl })).toEqual({
      "kafka.sasl.jaas.config":
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="relay" password="pa\\"ss\\\\word";',
      "kafka.ssl.keystore.key": "-----BEGIN PRIVATE KEY----- AAAA BBBB -----END PRIVATE KEY-----",
    });
  });

  it("name the protocol from what is set", () => {
    expect(javaClientSecurity({}, reference)).toEqual({ "security.protocol": "PLAINTEXT" });
    expect(javaClientSecurity({ tls: {} }, reference)).toEqual({ "security.protocol": "SSL" });
    expect(javaClientSecurity({ sasl: { ...sasl, mechanism: "plain" } }, reference)).toMatchObject({
      "security.protocol": "SASL_PLAINTEXT",
      "sasl.mechanism": "PLAIN",
    });
  });
});

describe("a failed TLS connection", () => {
  it.each([
    "unable to verify the first certificate",
    "Client network socket disconnected before secure TLS connection was established",
    "error:1C800064:Provider routines::bad decrypt",
    "error:0A00010B:SSL routines::wrong version number",
  ])("is told as the TLS settings' to check: %s", (message) => {
    const wrapped = Object.assign(new Error("Connection error"), { cause: new Error(message) });
    expect(kafkaSecurityFailure(wrapped)).toBe(
      `The TLS handshake with Kafka failed (KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE): ${message}`,
    );
  });

  it("is not what any other connection failure is told as", () => {
    expect(kafkaSecurityFailure(new Error("connect ECONNREFUSED 127.0.0.1:9092"))).toBeUndefined();
  });
});

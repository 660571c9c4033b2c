// TLS and SASL settings (config/kafkaSecurity.ts) in the two forms Kafka clients take them: kafkajs options for
// the project's own clients, and Java client properties for the Kafka Connect worker.
import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import type { KafkaConfig, SASLOptions } from "kafkajs";
import type { KafkaSecurity } from "../config/kafkaSecurity.ts";

/** kafkajs' `ssl` and `sasl`: certificates are verified, host names included, whatever the environment says. */
export function kafkajsSecurity(security: KafkaSecurity): Pick<KafkaConfig, "ssl" | "sasl"> {
  const config: Pick<KafkaConfig, "ssl" | "sasl"> = {};
  if (security.tls) {
    const tls: ConnectionOptions = { rejectUnauthorized: true };
    if (security.tls.caFile) tls.ca = [readFileSync(security.tls.caFile, "utf8")];
    if (security.tls.certFile) tls.cert = readFileSync(security.tls.certFile, "utf8");
    if (security.tls.keyFile) tls.key = readFileSync(security.tls.keyFile, "utf8");
    config.ssl = tls;
  }
  if (security.sasl) {
    const { mechanism, username, password } = security.sasl;
    config.sasl = { mechanism, username, password } as SASLOptions;
  }
  return config;
}

/** Kafka's name for the protocol a client speaks (`security.protocol`). */
export function securityProtocol(security: KafkaSecurity): string {
  if (security.tls) return security.sasl ? "SASL_SSL" : "SSL";
  return security.sasl ? "SASL_PLAINTEXT" : "PLAINTEXT";
}

/** The JAAS line a Java client logs in with; it holds the password, so it only ever goes into a secrets file. */
function jaasConfig(security: KafkaSecurity): string | undefined {
  if (!security.sasl) return undefined;
  const module =
    security.sasl.mechanism === "plain"
      ? "org.apache.kafka.common.security.plain.PlainLoginModule"
      : "org.apache.kafka.common.security.scram.ScramLoginModule";
  const quoted = (text: string) => `"${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  return `${module} required username=${quoted(security.sasl.username)} password=${quoted(security.sasl.password)};`;
}

/**
 * The secrets a Java client needs (the JAAS line with the password, the client certificate's private key), by the
 * name javaClientSecurity's `secret` reference asks for. They belong in a file only the worker reads.
 */
export function javaClientSecrets(security: KafkaSecurity): Record<string, string> {
  const secrets: Record<string, string> = {};
  const jaas = jaasConfig(security);
  if (jaas) secrets["kafka.sasl.jaas.config"] = jaas;
  if (security.tls?.keyFile) secrets["kafka.ssl.keystore.key"] = pemOneLine(security.tls.keyFile);
  return secrets;
}

/**
 * A Java client's security properties. A secret's value is `secret(name)` (a config provider placeholder such as
 * `${file:/path:kafka.sasl.jaas.config}`), never the secret itself. PEM files are read by Kafka as they are
 * (`ssl.*.type=PEM`, Kafka 2.7+), so no Java keystore is needed.
 */
export function javaClientSecurity(
  security: KafkaSecurity,
  secret: (name: "kafka.sasl.jaas.config" | "kafka.ssl.keystore.key") => string,
): Record<string, string> {
  const properties: Record<string, string> = { "security.protocol": securityProtocol(security) };
  if (security.tls) {
    // Java clients verify the broker's host name by default (ssl.endpoint.identification.algorithm=https).
    if (security.tls.caFile) {
      properties["ssl.truststore.type"] = "PEM";
      properties["ssl.truststore.location"] = security.tls.caFile;
    }
    if (security.tls.certFile && security.tls.keyFile) {
      properties["ssl.keystore.type"] = "PEM";
      properties["ssl.keystore.certificate.chain"] = pemOneLine(security.tls.certFile);
      properties["ssl.keystore.key"] = secret("kafka.ssl.keystore.key");
    }
  }
  if (security.sasl) {
    properties["sasl.mechanism"] = security.sasl.mechanism.toUpperCase();
    properties["sasl.jaas.config"] = secret("kafka.sasl.jaas.config");
  }
  return properties;
}

/** A PEM file's text as one property value: Kafka accepts the blocks with their line breaks removed. */
function pemOneLine(file: string): string {
  return readFileSync(file, "utf8").replace(/\r?\n/g, " ").trim();
}

/**
 * What a person must fix when `error` (from any kafkajs call) is Kafka refusing this client's credentials or
 * the TLS handshake failing; undefined for every other error. The message names the variables to check.
 */
export function kafkaSecurityFailure(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  for (let current = error; current instanceof Error && !seen.has(current); ) {
    seen.add(current);
    if (current.name === "KafkaJSSASLAuthenticationError") {
      return `Kafka refused the SASL credentials (KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD): ${current.message}`;
    }
    if (TLS_FAILURE.test(current.message)) {
      return `The TLS handshake with Kafka failed (KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE): ${current.message}`;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

// Node's certificate verification errors, the broker's alerts when it refuses the client's certificate, a key
// OpenSSL cannot read, and a port that speaks no TLS (it closes the connection, or answers in plaintext).
const TLS_FAILURE =
  /certificate|self[- ]signed|unable to verify|altname|Hostname\/IP does not match|SSL routines|alert|bad decrypt|before secure TLS connection was established|wrong version number/i;

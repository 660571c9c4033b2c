import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configProblems } from "../test/configProblems.ts";
import { loadEnv } from "./env.ts";

const dir = mkdtempSync(join(tmpdir(), "kafka-security-"));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const ca = file("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
const cert = file("client.pem", "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n");
const key = file("client.key", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
const passwordFile = file("password", "from-a-file\n");
const notPem = file("notes.txt", "hello");
const brokers = { KAFKA_BROKERS: "kafka-1:9093" };

const problemsOf = (source: Record<string, string>) => configProblems(loadEnv, source);

describe("Kafka TLS and SASL from the environment", () => {
  it("is plaintext without authentication when nothing is set", () => {
    expect(loadEnv({}).kafkaSecurity).toEqual({});
  });

  it("reads TLS with a CA and a client certificate, and SCRAM with a password from a file", () => {
    expect(
      loadEnv({
        ...brokers,
        KAFKA_SSL_CA_FILE: ca,
        KAFKA_SSL_CERT_FILE: cert,
        KAFKA_SSL_KEY_FILE: key,
        KAFKA_SASL_MECHANISM: "SCRAM-SHA-512",
        KAFKA_SASL_USERNAME: "relay",
        KAFKA_SASL_PASSWORD_FILE: passwordFile,
      }).kafkaSecurity,
    ).toEqual({
      tls: { caFile: ca, certFile: cert, keyFile: key },
      sasl: { mechanism: "scram-sha-512", username: "relay", password: "from-a-file" },
    });
  });

  it("reads a password file written with a byte-order mark and a CRLF line end as the password alone", () => {
    const windows = file("password-windows", "\uFEFFfrom-a-file\r\n");
    const sasl = { KAFKA_SASL_MECHANISM: "scram-sha-256", KAFKA_SASL_USERNAME: "relay" };
    expect(loadEnv({ ...brokers, ...sasl, KAFKA_SASL_PASSWORD_FILE: windows }).kafkaSecurity).toEqual({
      sasl: { mechanism: "scram-sha-256", username: "relay", password: "from-a-file" },
    });
    expect(
      problemsOf({ ...brokers, ...sasl, KAFKA_SASL_PASSWORD_FILE: file("bom-only", "\uFEFF\n") }),
    ).toEqual([`KAFKA_SASL_PASSWORD_FILE=${JSON.stringify(join(dir, "bom-only"))}: names an empty file`]);
  });

  it("refuses an encrypted client key, which no variable gives the passphrase of", () => {
    for (const [name, text] of [
      ["pkcs8.key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF\n-----END ENCRYPTED PRIVATE KEY-----\n"],
      [
        "traditional.key",
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nMIIE\n-----END RSA PRIVATE KEY-----\n",
      ],
    ] as const) {
      const encrypted = file(name, text);
      expect(problemsOf({ ...brokers, KAFKA_SSL_CERT_FILE: cert, KAFKA_SSL_KEY_FILE: encrypted })).toEqual([
        `KAFKA_SSL_KEY_FILE=${JSON.stringify(encrypted)}: holds an encrypted private key, which needs a passphrase no variable gives: give it unencrypted (openssl pkey -in key.pem -out unencrypted.pem)`,
      ]);
    }
  });

  it("turns TLS on with KAFKA_SSL=true alone, trusting the platform's CAs", () => {
    expect(loadEnv({ ...brokers, KAFKA_SSL: "true" }).kafkaSecurity).toEqual({ tls: {} });
  });

  it("allows SCRAM without TLS (the password never crosses the wire) but not PLAIN", () => {
    const scram = {
      ...brokers,
      KAFKA_SASL_MECHANISM: "scram-sha-256",
      KAFKA_SASL_USERNAME: "u",
      KAFKA_SASL_PASSWORD: "p",
    };
    expect(loadEnv(scram).kafkaSecurity).toEqual({
      sasl: { mechanism: "scram-sha-256", username: "u", password: "p" },
    });
    expect(problemsOf({ ...scram, KAFKA_SASL_MECHANISM: "plain" })).toEqual([
      'KAFKA_SASL_MECHANISM="plain": is plain, which sends the password as it is: set KAFKA_SSL=true to send it over TLS',
    ]);
  });

  it("names each bad variable once, and never prints the password", () => {
    const problems = problemsOf({
      ...brokers,
      KAFKA_SSL: "yes",
      KAFKA_SSL_CA_FILE: join(dir, "missing.pem"),
      KAFKA_SSL_CERT_FILE: notPem,
      KAFKA_SASL_MECHANISM: "gssapi",
      KAFKA_SASL_PASSWORD: "hunter2-secret",
      KAFKA_SASL_PASSWORD_FILE: passwordFile,
    });
    expect(problems).toEqual([
      'KAFKA_SSL="yes": must be true or false',
      `KAFKA_SSL_CA_FILE=${JSON.stringify(join(dir, "missing.pem"))}: cannot be read (ENOENT)`,
      `KAFKA_SSL_CERT_FILE=${JSON.stringify(notPem)}: holds no PEM certificate (-----BEGIN ...CERTIFICATE-----)`,
      "KAFKA_SSL_KEY_FILE=undefined: must be set with KAFKA_SSL_CERT_FILE (the client certificate's private key)",
      'KAFKA_SASL_MECHANISM="gssapi": must be one of plain, scram-sha-256, scram-sha-512',
      "KAFKA_SASL_USERNAME=undefined: must be set with KAFKA_SASL_MECHANISM",
      `KAFKA_SASL_PASSWORD_FILE=${JSON.stringify(passwordFile)}: set either KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both`,
    ]);
    expect(problems.join("\n")).not.toContain("hunter2-secret");
  });

  it("refuses a password without a mechanism, and a mechanism without a password", () => {
    expect(problemsOf({ ...brokers, KAFKA_SASL_USERNAME: "u", KAFKA_SASL_PASSWORD: "p" })).toEqual([
      "KAFKA_SASL_MECHANISM=undefined: must be set (plain, scram-sha-256, scram-sha-512) when a SASL username or password is",
    ]);
    expect(
      problemsOf({ ...brokers, KAFKA_SASL_MECHANISM: "scram-sha-512", KAFKA_SASL_USERNAME: "u" }),
    ).toEqual([
      "KAFKA_SASL_PASSWORD=undefined: must be set with KAFKA_SASL_MECHANISM (or KAFKA_SASL_PASSWORD_FILE)",
    ]);
  });

  it("refuses KAFKA_SSL=false beside a certificate file, rather than guess", () => {
    expect(problemsOf({ ...brokers, KAFKA_SSL: "false", KAFKA_SSL_CA_FILE: ca })).toEqual([
      'KAFKA_SSL="false": is false, but a KAFKA_SSL_*_FILE is set: unset those, or set KAFKA_SSL=true',
    ]);
  });

  it("refuses security settings for the local broker, which speaks plaintext only", () => {
    expect(problemsOf({ KAFKA_SSL: "true" })).toEqual([
      "KAFKA_BROKERS=undefined: must name the brokers when KAFKA_SSL or KAFKA_SASL_MECHANISM is set (the local broker speaks plaintext only)",
    ]);
  });

  it("refuses a protocol prefix in KAFKA_BROKERS, pointing at the variables that choose the protocol", () => {
    expect(problemsOf({ KAFKA_BROKERS: "SASL_SSL://kafka-1:9093" })).toEqual([
      'KAFKA_BROKERS="SASL_SSL://kafka-1:9093": each broker must be host:port, without a protocol prefix (TLS and SASL come from KAFKA_SSL and KAFKA_SASL_MECHANISM): "SASL_SSL://kafka-1:9093" has one',
    ]);
  });
});

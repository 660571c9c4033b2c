// A broker of the test run's own with TLS and SASL listeners (stack/kafka.ts started with another KafkaNode),
// and the certificates it and its clients use, made with openssl when it starts: a CA, the broker's
// certificate, a client certificate for mutual TLS, and a second CA that signed nothing the broker holds.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { KafkaSecurity, SaslMechanism } from "../config/kafkaSecurity.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { type Admin, createKafka } from "../kafka/client.ts";
import type { AclPrincipals } from "../scripts/kafkaAcls.ts";
import { brokersOf, type KafkaNode, kafkaIsRunning, startKafka, stopKafka } from "../stack/kafka.ts";
import { stackPaths, withLock } from "../stack/processes.ts";
import { spawnScript } from "./childProcess.ts";
import { eventually } from "./fixtures.ts";
import { SECURE_KAFKA_BASE_PORT } from "./lanes.ts";

const run = promisify(execFile);

/**
 * The node's first port, 19092 unless TEST_SECURE_KAFKA_PORT names another: the node's ports are fixed, not the
 * checkout's, so a second checkout's run on the same machine (its files start a node of its own, with its own
 * certificates) needs other ones while the first run's node holds them, and so does each lane of one run
 * (test/lanes.ts).
 */
function basePortOf(env: NodeJS.ProcessEnv): number {
  const port = Number(env.TEST_SECURE_KAFKA_PORT || SECURE_KAFKA_BASE_PORT);
  if (!Number.isInteger(port) || port < 1024 || port > 65533)
    throw new Error(`TEST_SECURE_KAFKA_PORT: a port from 1024 to 65533, not ${env.TEST_SECURE_KAFKA_PORT}`);
  return port;
}

/** The node's directory under .data/: kafka-secure-test, or kafka-secure-test-<port> on other ports. */
const nameOf = (port: number) =>
  port === SECURE_KAFKA_BASE_PORT ? "kafka-secure-test" : `kafka-secure-test-${port}`;

/** The files openssl makes; every key is unencrypted PKCS#8 (what both Node and Kafka's PEM stores read). */
const certificatesIn = (dir: string) => ({
  ca: join(dir, "ca.pem"),
  brokerKeystore: join(dir, "broker-keystore.pem"),
  clientCert: join(dir, "client.pem"),
  clientKey: join(dir, "client.key"),
  otherCa: join(dir, "other-ca.pem"),
});

const basePort = basePortOf(process.env);
const NAME = nameOf(basePort);
const certificatesDir = join(stackPaths.data, NAME, "certificates");
export const certificates = certificatesIn(certificatesDir);

/** The users the broker knows, one per mechanism (SCRAM users are made when the storage is formatted). */
export const users: Record<SaslMechanism, { username: string; password: string }> = {
  plain: { username: "plain-user", password: "plain-secret-7Qx" },
  "scram-sha-256": { username: "scram256-user", password: "scram256-secret-Lm2" },
  "scram-sha-512": { username: "scram512-user", password: "scram512-secret-Zt9" },
};

/**
 * SCRAM-SHA-512 users that are no super users: what the broker lets each do is what ACLs grant it
 * (`npm run topics -- acls`, scripts/kafkaAcls.ts). `stranger` is granted nothing.
 */
export const aclUsers = {
  relay: { username: "relay-principal", password: "relay-secret-R4k" },
  consumer: { username: "consumer-principal", password: "consumer-secret-C8w" },
  operator: { username: "operator-principal", password: "operator-secret-O2j" },
  connect: { username: "connect-principal", password: "connect-secret-K6v" },
  stranger: { username: "stranger-principal", password: "stranger-secret-S1q" },
} as const;
export type AclUser = keyof typeof aclUsers;

/** Kafka's principal for an ACL user: `User:<name>`. */
export const principalOf = (user: AclUser) => `User:${aclUsers[user].username}`;

/** The ACL users as the principals of the platform's four roles (`stranger` is none of them). */
export const aclPrincipals: AclPrincipals = {
  relay: [principalOf("relay")],
  connect: [principalOf("connect")],
  consumers: [principalOf("consumer")],
  operators: [principalOf("operator")],
};

/** The same, as the variables `npm run topics -- acls` reads. */
export const aclPrincipalVariables: Record<string, string> = {
  KAFKA_ACL_RELAY_PRINCIPAL: principalOf("relay"),
  KAFKA_ACL_CONNECT_PRINCIPAL: principalOf("connect"),
  KAFKA_ACL_CONSUMER_PRINCIPAL: principalOf("consumer"),
  KAFKA_ACL_OPERATOR_PRINCIPAL: principalOf("operator"),
};

/** `npm run topics -- <args>` on the node as the cluster's administrator (a super user), with `env` on top. */
export async function runTopicsAsAdministrator(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const command = spawnScript("scripts/topics.ts", {
    args,
    env: {
      KAFKA_BROKERS: saslBrokers.join(","),
      ...securityVariables(saslSecurity("scram-sha-512")),
      ...env,
    },
  });
  const code = await command.exited;
  return { code, output: command.output() };
}

/**
 * SASL over TLS on 19092 (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), mutual TLS on 19093 (a client certificate), the
 * controller on 19094. Below Linux's ephemeral range (32768-60999): on 39092 the node once failed to start
 * because an outgoing connection of the same test run held that port.
 */
function secureKafkaNodeAt(basePort: number): KafkaNode {
  const certificates = certificatesIn(join(stackPaths.data, nameOf(basePort), "certificates"));
  return {
    name: nameOf(basePort),
    listeners: [
      { name: "SASL_SSL", port: basePort, protocol: "SASL_SSL" },
      { name: "SSL", port: basePort + 1, protocol: "SSL" },
    ],
    // The node talks to itself over mutual TLS, with its own certificate as the client's.
    interBrokerListener: "SSL",
    // ACLs are checked (StandardAuthorizer). The users the authentication tests log in as are super users, so those
    // tests see no ACL; the ACL users below are not: what they may do is what `npm run topics -- acls` grants them.
    authorizer: {
      superUsers: [
        "User:CN=localhost", // the node itself, over its SSL listener
        "User:CN=outbox-relay", // the client certificate
        ...Object.values(users).map(({ username }) => `User:${username}`),
      ],
    },
    controllerPort: basePort + 2,
    extraProperties: `
ssl.keystore.type=PEM
ssl.keystore.location=${certificates.brokerKeystore}
ssl.truststore.type=PEM
ssl.truststore.location=${certificates.ca}
listener.name.ssl.ssl.client.auth=required
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${users.plain.username}="${users.plain.password}";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
`,
    formatArgs: [
      "--add-scram",
      `SCRAM-SHA-256=[name=${users["scram-sha-256"].username},password=${users["scram-sha-256"].password}]`,
      "--add-scram",
      `SCRAM-SHA-512=[name=${users["scram-sha-512"].username},password=${users["scram-sha-512"].password}]`,
      ...Object.values(aclUsers).flatMap(({ username, password }) => [
        "--add-scram",
        `SCRAM-SHA-512=[name=${username},password=${password}]`,
      ]),
    ],
    probe: {
      listener: "SASL_SSL",
      security: {
        tls: { caFile: certificates.ca },
        sasl: { mechanism: "scram-sha-512", ...users["scram-sha-512"] },
      },
    },
  };
}

export const secureKafkaNode = secureKafkaNodeAt(basePort);

export const saslBrokers = brokersOf(secureKafkaNode, "SASL_SSL");
export const mtlsBrokers = brokersOf(secureKafkaNode, "SSL");

/** A client of the SASL_SSL listener as `mechanism`'s user, trusting the test CA. */
export function saslSecurity(mechanism: SaslMechanism): KafkaSecurity {
  return { tls: { caFile: certificates.ca }, sasl: { mechanism, ...users[mechanism] } };
}

/** A client of the SASL_SSL listener as one of the ACL users, over SCRAM-SHA-512. */
export function aclUserSecurity(user: AclUser): KafkaSecurity {
  return { tls: { caFile: certificates.ca }, sasl: { mechanism: "scram-sha-512", ...aclUsers[user] } };
}

/** The variables a process run as one of the ACL users reads: the SASL_SSL listener and that user's login. */
export function aclUserVariables(user: AclUser): Record<string, string> {
  return { KAFKA_BROKERS: saslBrokers.join(","), ...securityVariables(aclUserSecurity(user)) };
}

/** A client of the mutual TLS listener, with the client certificate. */
export function mtlsSecurity(): KafkaSecurity {
  return {
    tls: { caFile: certificates.ca, certFile: certificates.clientCert, keyFile: certificates.clientKey },
  };
}

/** The same settings as the variables a process reads (config/kafkaSecurity.ts). */
export function securityVariables(security: KafkaSecurity): Record<string, string> {
  const variables: Record<string, string> = {};
  if (security.tls) variables.KAFKA_SSL = "true";
  if (security.tls?.caFile) variables.KAFKA_SSL_CA_FILE = security.tls.caFile;
  if (security.tls?.certFile) variables.KAFKA_SSL_CERT_FILE = security.tls.certFile;
  if (security.tls?.keyFile) variables.KAFKA_SSL_KEY_FILE = security.tls.keyFile;
  if (security.sasl) {
    variables.KAFKA_SASL_MECHANISM = security.sasl.mechanism;
    variables.KAFKA_SASL_USERNAME = security.sasl.username;
    variables.KAFKA_SASL_PASSWORD = security.sasl.password;
  }
  return variables;
}

/**
 * Starts the node from scratch: new certificates, new storage (so the SCRAM users are those above). A node an
 * earlier file of this run started is reused (it answers with the certificates on disk); the run's teardown
 * (test/globalSetup.ts) stops it.
 */
export async function startSecureKafka(): Promise<void> {
  // The files that need the node run in parallel workers: one makes the certificates and starts it while the
  // others wait, then find it answering (without the lock, a second file removed the first one's certificates).
  await withLock(join(stackPaths.data, `${NAME}.start.lock`), "the secure test broker", async () => {
    if (await answersWithOurCertificates()) return;
    await stopKafka(secureKafkaNode);
    await rm(join(stackPaths.data, NAME), { recursive: true, force: true });
    await makeCertificates();
    await startKafka(() => {}, secureKafkaNode);
  });
}

/** Without our CA on disk, whatever answers on the node's port is not the broker this run made. */
async function answersWithOurCertificates(): Promise<boolean> {
  if (!existsSync(certificates.ca)) return false;
  return kafkaIsRunning(secureKafkaNode);
}

/** Stops the node of `env`'s TEST_SECURE_KAFKA_PORT (the teardown stops each lane's). */
export async function stopSecureKafka(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await stopKafka(secureKafkaNodeAt(basePortOf(env)));
}

async function makeCertificates(): Promise<void> {
  await mkdir(certificatesDir, { recursive: true });
  const at = (file: string) => join(certificatesDir, file);
  const openssl = (...args: string[]) => run("openssl", args, { cwd: certificatesDir });
  const selfSignedCa = async (name: string, subject: string) => {
    await openssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      subject,
      "-keyout",
      at(`${name}.key`),
      "-out",
      at(`${name}.pem`),
    );
  };
  const signed = async (name: string, subject: string, extensions: string) => {
    await writeFile(at(`${name}.ext`), extensions);
    await openssl(
      "req",
      "-new",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      subject,
      "-keyout",
      at(`${name}.key`),
      "-out",
      at(`${name}.csr`),
    );
    await openssl(
      "x509",
      "-req",
      "-in",
      at(`${name}.csr`),
      "-CA",
      at("ca.pem"),
      "-CAkey",
      at("ca.key"),
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      at(`${name}.ext`),
      "-out",
      at(`${name}.pem`),
    );
  };
  await selfSignedCa("ca", "/CN=healthcare test CA");
  await selfSignedCa("other-ca", "/CN=some other CA");
  await signed("broker", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await signed("client", "/CN=outbox-relay", "extendedKeyUsage=clientAuth\n");
  await writeFile(
    certificates.brokerKeystore,
    (await readFile(at("broker.key"), "utf8")) + (await readFile(at("broker.pem"), "utf8")),
  );
}

/**
 * An admin client of the cluster's administrator (a SCRAM-SHA-512 super user, whom no ACL limits): what the
 * broker holds is read as it, whoever wrote it. Not connected yet.
 */
export function superUserAdmin(clientId: string): Admin {
  return createKafka({ brokers: saslBrokers, clientId, security: saslSecurity("scram-sha-512") }).admin();
}

/**
 * The catalog's topics on the node, created by an admin client over SCRAM-SHA-512; then waits for the group
 * coordinator (a fresh node creates __consumer_offsets on the first FindCoordinator), which a consumer joining
 * before it is ready does not survive.
 */
export async function applyCatalogTopics(): Promise<void> {
  const admin = superUserAdmin("test-secure-setup");
  await admin.connect();
  try {
    await applyTopics(admin, {
      log: { info: () => {}, warn: () => {} },
      security: saslSecurity("scram-sha-512"),
      // One secure node, whatever KAFKA_BROKER_COUNT says of the plaintext cluster the other tests use.
      replication: { factor: 1, minInsyncReplicas: 1 },
    });
    await eventually(
      () =>
        admin.describeGroups(["test-secure-warm-up"]).then(
          () => true,
          () => false,
        ),
      60_000,
    );
  } finally {
    await admin.disconnect();
  }
}

/**
 * The node with the catalog's topics and the four roles' ACLs, applied by `npm run topics -- acls` as the cluster's
 * administrator: what the operators' tools meet when run as one of the ACL users (aclUserVariables).
 */
export async function startSecureKafkaWithAcls(): Promise<void> {
  await startSecureKafka();
  await applyCatalogTopics();
  const applied = await runTopicsAsAdministrator(["acls"], aclPrincipalVariables);
  if (applied.code !== 0)
    throw new Error(`npm run topics -- acls exited ${applied.code}:\n${applied.output}`);
}

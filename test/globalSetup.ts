// Brings up what the integration tests need, once per run: the configured or local Postgres and Kafka,
// a fresh test database with the migrations applied, and the catalog's topics.
import pg from "pg";
import type { TestProject } from "vitest/node";
import { loadEnv } from "../config/env.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { releaseDatabase } from "../debezium/teardown.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { createKafka } from "../kafka/client.ts";
import { ensureStack, localKafkaBrokers, ownKafkaPid } from "../stack/index.ts";
import { checkoutId } from "../stack/processes.ts";
import { dockerEngineAnswers, startContainers } from "./containers.ts";

declare module "vitest" {
  export interface ProvidedContext {
    databaseUrl: string;
    kafkaBrokers: string[];
    /**
     * True when the broker under test is the one this checkout started and it serves the port: the only one
     * tests may stop. Another checkout's broker on the same port, or one given, is never stopped.
     */
    localKafka: boolean;
  }
}

// Named per checkout: another checkout's run may share the server (its Postgres on 5433 answers for both)
// and its Kafka Connect worker, where the Debezium connector is named after the database.
const TEST_DATABASE = `healthcare_test_${checkoutId}`;

export default async function setup(project: TestProject) {
  const env = loadEnv();
  // Services from the variables when set; else containers when a Docker engine answers; else our own.
  const useContainers = !env.DATABASE_URL && !env.KAFKA_BROKERS && (await dockerEngineAnswers());
  const stack = useContainers
    ? await startContainers().then((containers) => ({ ...containers, stopStarted: containers.stop }))
    : await ensureStack(env, (line) => console.log(`[stack] ${line}`));
  const databaseUrl = env.DATABASE_URL ?? (await recreateDatabase(stack.databaseUrl, TEST_DATABASE));
  await migrateDatabase(databaseUrl);

  const admin = createKafka({ brokers: stack.kafkaBrokers, clientId: "test-setup" }).admin();
  await admin.connect();
  try {
    await applyTopics(admin, { log: { info: () => {}, warn: (message) => console.warn(message) } });
  } finally {
    await admin.disconnect();
  }

  project.provide("databaseUrl", databaseUrl);
  project.provide("kafkaBrokers", stack.kafkaBrokers);
  project.provide("localKafka", await kafkaIsOurs(stack.kafkaBrokers));
  return () => stack.stopStarted();
}

async function kafkaIsOurs(brokers: string[]): Promise<boolean> {
  const local = brokers.join(",") === localKafkaBrokers().join(",");
  if (local && (await ownKafkaPid()) !== undefined) return true;
  console.log(
    `[stack] the broker at ${brokers.join(",")} is ${local ? "another checkout's (or someone's)" : "given by KAFKA_BROKERS"}, ` +
      "not one this checkout started: the tests that stop Kafka are skipped",
  );
  return false;
}

/** A clean database beside the development one, so tests never see (or disturb) `npm start`'s data. */
async function recreateDatabase(serverUrl: string, name: string): Promise<string> {
  // A Debezium replication slot on the old database (a run that died mid-file) blocks DROP DATABASE.
  await releaseDatabase(serverUrl, name);
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

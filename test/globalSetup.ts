// Brings up what the integration tests need, once per run: the configured or local Postgres and Kafka,
// a fresh test database with the migrations applied, and the catalog's topics.
import pg from "pg";
import type { TestProject } from "vitest/node";
import { loadEnv } from "../config/env.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { releaseDatabase } from "../debezium/teardown.ts";
import { applyTopics } from "../events/apply-topics.ts";
import { createKafka } from "../kafka/client.ts";
import {
  connectIsRunning,
  ensureStack,
  type KafkaCluster,
  kafkaClusterFromEnv,
  localKafkaBrokers,
  ownKafkaPid,
  stopConnect,
} from "../stack/index.ts";
import { checkoutId } from "../stack/processes.ts";
import { compileCommands } from "./compiledCommands.ts";
import { dockerEngineAnswers, startContainers } from "./containers.ts";
import { laneEnvironment, type TestLane, testLaneCount, withEnvironment } from "./lanes.ts";
import { stopSecureKafka } from "./secureKafka.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Each lane's services (test/lanes.ts): worker n runs its files in lane n - 1. */
    lanes: TestLane[];
    /** The shape of the project's own Kafka (KAFKA_PORT, KAFKA_BROKER_COUNT): which nodes a test may kill. */
    kafkaCluster: KafkaCluster;
    /** Whether the commands are compiled into dist/ already (test/childProcess.ts compiledScript). */
    commandsCompiled: boolean;
  }
}

// Named per checkout: another checkout's run may share the server (its Postgres on 5433 answers for both)
// and its Kafka Connect worker, where the Debezium connector is named after the database.
const TEST_DATABASE = `healthcare_test_${checkoutId}`;

export default async function setup(project: TestProject) {
  const count = testLaneCount();
  const log = (line: string) => console.log(`[stack] ${line}`);
  const lanes: TestLane[] = [];
  const teardowns: Array<() => Promise<void>> = [];
  try {
    // One after another: each lane's services start with the lane's ports in the environment.
    for (let index = 0; index < count; index++) {
      const env = laneEnvironment(index);
      log(
        `lane ${index}: ports ${Object.entries(env)
          .map(([name, value]) => `${name}=${value}`)
          .join(" ")}`,
      );
      const lane = await withEnvironment(env, () => setUpLane(env, log));
      lanes.push(lane.lane);
      teardowns.push(() => withEnvironment(env, lane.tearDown));
    }
  } catch (error) {
    for (const tearDown of teardowns.reverse()) await tearDown();
    throw error;
  }
  // Files of several lanes start compiled commands at once: they are compiled here, once, before any starts.
  if (count > 1) compileCommands();

  project.provide("lanes", lanes);
  project.provide("kafkaCluster", kafkaClusterFromEnv());
  project.provide("commandsCompiled", count > 1);
  return async () => {
    for (const tearDown of teardowns.reverse()) await tearDown();
  };
}

/** A lane's Postgres, Kafka and test database, with the catalog's topics; its teardown stops what it started. */
async function setUpLane(
  laneEnv: Record<string, string>,
  log: (line: string) => void,
): Promise<{ lane: TestLane; tearDown: () => Promise<void> }> {
  const given = loadEnv();
  // A broker the lane's KAFKA_BROKERS names in place of the development one is the lane's own, to start: the
  // variable only names it for the workers.
  const env = laneEnv.KAFKA_BROKERS ? { ...given, KAFKA_BROKERS: undefined } : given;
  // Services from the variables when set; else containers when a Docker engine answers; else our own.
  const useContainers = !env.DATABASE_URL && !env.KAFKA_BROKERS && (await dockerEngineAnswers());
  const stack = useContainers
    ? await startContainers().then((containers) => ({ ...containers, stopStarted: containers.stop }))
    : await ensureStack(env, log);
  // A Connect worker the lane's Debezium files start (debezium/connector.ts) is stopped with the lane.
  const connectWasRunning = await connectIsRunning();
  const tearDown = async () => {
    await stopSecureKafka();
    if (!connectWasRunning) await stopConnect();
    await stack.stopStarted();
  };
  try {
    const databaseUrl = env.DATABASE_URL ?? (await recreateDatabase(stack.databaseUrl, TEST_DATABASE));
    await migrateDatabase(databaseUrl);
    const admin = createKafka({ brokers: stack.kafkaBrokers, clientId: "test-setup" }).admin();
    await admin.connect();
    try {
      await applyTopics(admin, { log: { info: () => {}, warn: (message) => console.warn(message) } });
    } finally {
      await admin.disconnect();
    }
    const localKafka = await kafkaIsOurs(stack.kafkaBrokers);
    return { lane: { databaseUrl, kafkaBrokers: stack.kafkaBrokers, localKafka, env: laneEnv }, tearDown };
  } catch (error) {
    await tearDown();
    throw error;
  }
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

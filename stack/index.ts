// What the apps, the relay and the tests call to get a Postgres and a Kafka: the ones the environment names,
// or else, outside production, the project's own local services, started (or reused) here.
import { ConfigError, withoutPassword } from "../config/env.ts";
import { kafkaNodeLogFile, localKafkaBrokers, startKafka, stopKafka } from "./kafka.ts";
import { postgresLogFile, startPostgres, stopPostgres } from "./postgres.ts";

// Kafka Connect is not part of ensureStack: only RELAY_MODE=debezium needs it (debezium/connector.ts starts it).
export {
  type ConnectCluster,
  connectClusterFromEnv,
  connectIsRunning,
  connectLogFile,
  connectWorkerPid,
  connectWorkerUrl,
  killConnectWorker,
  localConnectPid,
  localConnectUrl,
  ownConnectPid,
  startConnect,
  startConnectWorker,
  stopAllConnect,
  stopConnect,
} from "./connect.ts";
export {
  describeKafkaCluster,
  type KafkaCluster,
  type KafkaClusterState,
  kafkaClusterFromEnv,
  kafkaIsRunning,
  kafkaLogFile,
  kafkaNodeId,
  kafkaNodeLogFile,
  kafkaNodePid,
  kafkaNodePort,
  killKafkaNode,
  localKafkaBrokers,
  localKafkaPid,
  ownKafkaPid,
  startKafka,
  startKafkaNode,
  stopAllKafka,
  stopKafka,
  stopKafkaNode,
} from "./kafka.ts";
export {
  ensureLogicalWal,
  localDatabaseUrl,
  localPostgresPid,
  postgresIsRunning,
  postgresLogFile,
  startPostgres,
  stopPostgres,
} from "./postgres.ts";
export { stackPaths } from "./processes.ts";

export type StackService = "postgres" | "kafka";

export interface Stack {
  databaseUrl: string;
  kafkaBrokers: string[];
  /** The local services this call started; those it found running are left alone. */
  started: StackService[];
  stopStarted(): Promise<void>;
}

interface ServicesEnv {
  DATABASE_URL?: string;
  KAFKA_BROKERS?: string[];
  NODE_ENV?: string;
}

/**
 * What is wrong with DATABASE_URL and KAFKA_BROKERS before ensureStack: in production (NODE_ENV=production) each
 * must be set, as a missing one would be the project's own local service in place of the operator's, and a
 * command run there would report on another database (a key re-wrap that finds nothing to re-wrap) or write to it.
 */
export function stackVariableProblems(env: ServicesEnv): string[] {
  if (env.NODE_ENV !== "production") return [];
  const missing = [
    ...(env.DATABASE_URL ? [] : ["DATABASE_URL"]),
    ...(env.KAFKA_BROKERS?.length ? [] : ["KAFKA_BROKERS"]),
  ];
  return missing.map(
    (variable) =>
      `${variable}: must be set when NODE_ENV=production; the project's own local service takes its place only outside production`,
  );
}

/** DATABASE_URL; unset, outside production only, the project's own Postgres, started or reused. */
export async function databaseUrlOf(env: ServicesEnv, log: (line: string) => void): Promise<string> {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  refuseUnsetInProduction(env, "DATABASE_URL");
  return (await startPostgres(log)).databaseUrl;
}

/** KAFKA_BROKERS; unset, outside production only, the project's own broker(s). */
export function kafkaBrokersOf(env: ServicesEnv): string[] {
  if (env.KAFKA_BROKERS?.length) return env.KAFKA_BROKERS;
  refuseUnsetInProduction(env, "KAFKA_BROKERS");
  return localKafkaBrokers();
}

function refuseUnsetInProduction(env: ServicesEnv, variable: "DATABASE_URL" | "KAFKA_BROKERS"): void {
  const problems = stackVariableProblems(env).filter((problem) => problem.startsWith(`${variable}:`));
  if (problems.length > 0) throw new ConfigError(problems);
}

/**
 * Uses DATABASE_URL and KAFKA_BROKERS as given; outside production, starts or reuses the local service for each
 * one missing (in production a missing one is a ConfigError). The two start in parallel: Kafka's JVM dominates
 * the time and Postgres fits inside it.
 */
export async function ensureStack(env: ServicesEnv, log: (line: string) => void): Promise<Stack> {
  const problems = stackVariableProblems(env);
  if (problems.length > 0) throw new ConfigError(problems);
  const givenBrokers = env.KAFKA_BROKERS?.length ? env.KAFKA_BROKERS : undefined;
  const [postgres, kafka] = await Promise.allSettled([
    env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL, startedByUs: false } : startPostgres(log),
    givenBrokers ? { brokers: givenBrokers, startedByUs: false } : startKafka(log),
  ]);
  const started: StackService[] = [];
  if (postgres.status === "fulfilled" && postgres.value.startedByUs) started.push("postgres");
  if (kafka.status === "fulfilled" && kafka.value.startedByUs) started.push("kafka");
  const stopStarted = () => stopServices(started);

  if (postgres.status === "rejected" || kafka.status === "rejected") {
    // Do not leave half a stack behind for a caller that only gets an exception.
    await stopStarted();
    const reasons = [postgres, kafka].flatMap((r) =>
      r.status === "rejected" ? [(r.reason as Error).message] : [],
    );
    throw new Error(reasons.join("\n"));
  }
  if (!env.DATABASE_URL)
    log(`postgres: ${withoutPassword(postgres.value.databaseUrl)} (log ${postgresLogFile()})`);
  if (!givenBrokers) log(`kafka: ${kafka.value.brokers.join(",")} (log ${kafkaNodeLogFile(0)})`);
  return { databaseUrl: postgres.value.databaseUrl, kafkaBrokers: kafka.value.brokers, started, stopStarted };
}

/** Stops the project's own Postgres and Kafka (whoever started them); servers it only found stay up. */
export async function stopStack(): Promise<void> {
  await stopServices(["postgres", "kafka"]);
}

async function stopServices(services: StackService[]): Promise<void> {
  await Promise.all(services.map((service) => (service === "postgres" ? stopPostgres() : stopKafka())));
}
